"""The simulated hosts' state survives a restart (the local console saves it in its data folder):
what the runbook changed comes back, a host whose scenario spec changed starts fresh, and no
password reaches the saved text."""

from __future__ import annotations

import json

from simulator.host import AGENT_SERVICE
from simulator.world import build_world, restore_world, world_state

SCENARIO = {
    "hosts": [
        {"name": "SYNC01", "share_readers": {"CONTOSO\\svc-fileshare": "Share-Pass-Long-1"}},
        {"name": "SYNC02", "tls12": "disabled"},
    ]
}


def _changed_world() -> dict:
    world = build_world(SCENARIO)
    host = world.hosts["SYNC01"]
    host.apply_install()
    host.services[AGENT_SERVICE.lower()].start_name = "CONTOSO\\provAgentgMSA$"
    host.agent_domains = ["contoso.com"]
    host.agent_registered = True
    host.execution_policies["MachinePolicy"] = "AllSigned"
    host.files["c:\\programdata\\x.bin"] = type(host.files["c:\\"])(
        "C:\\ProgramData\\x.bin", b"\x00\xffbytes"
    )
    world.tenant.agents.append({"host": "SYNC01", "status": "active"})
    world.tenant.domains["contoso.com"]["gmsas"].add("provAgentgMSA$")
    return world_state(world)


def test_what_the_runbook_changed_comes_back() -> None:
    saved = json.loads(json.dumps(_changed_world()))  # as written to the data folder
    world = build_world(SCENARIO)
    assert not world.hosts["SYNC01"].installed()
    restored, fresh = restore_world(world, saved)
    assert (restored, fresh) == (["SYNC01", "SYNC02"], [])
    host = world.hosts["SYNC01"]
    assert host.installed() and host.agent_registered and host.agent_domains == ["contoso.com"]
    assert host.service(AGENT_SERVICE).start_name == "CONTOSO\\provAgentgMSA$"
    assert host.execution_policy == "AllSigned"
    assert host.file("C:\\ProgramData\\x.bin").content == b"\x00\xffbytes"
    assert world.tenant.agents == [{"host": "SYNC01", "status": "active"}]
    assert "provAgentgMSA$" in world.tenant.domains["contoso.com"]["gmsas"]
    assert world.hosts["SYNC02"].get_reg(
        "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols"
        "\\TLS 1.2\\Client"
    ) == {"Enabled": 0, "DisabledByDefault": 1}


def test_a_changed_spec_or_a_new_host_starts_fresh() -> None:
    saved = _changed_world()
    edited = {
        "hosts": [
            {**SCENARIO["hosts"][0], "tls12": "enabled"},  # the sim: mapping was edited
            SCENARIO["hosts"][1],
            {"name": "SYNC03"},
        ]
    }
    world = build_world(edited)
    restored, fresh = restore_world(world, saved)
    assert (restored, fresh) == (["SYNC02"], ["SYNC01", "SYNC03"])
    assert not world.hosts["SYNC01"].installed()
    assert restore_world(build_world(SCENARIO), {"version": 0}) == ([], ["SYNC01", "SYNC02"])


def test_no_password_in_the_saved_state() -> None:
    text = json.dumps(_changed_world())
    assert "Share-Pass-Long-1" not in text and "Domain-Pass-1!" not in text
    assert "Hybrid-Pass-1!" not in text


def test_day_two_state_comes_back_as_after_a_reboot() -> None:
    """The agent's proxy file, its traces and Admin events survive; the running services get new
    processes and the agent reads its configuration file as it starts again."""
    from simulator.host import ADMIN_CHANNEL, AGENT_CONFIG

    world = build_world(SCENARIO)
    host = world.hosts["SYNC01"]
    host.apply_install()
    config = host.file(AGENT_CONFIG)
    assert config is not None
    config.content = (
        b'<?xml version="1.0"?><configuration><system.net><defaultProxy>'
        b'<proxy proxyaddress="http://proxy.contoso.com:8080"/></defaultProxy></system.net>'
        b"</configuration>"
    )
    host.write_trace("planted line")
    host.log_event(ADMIN_CHANNEL, 2001, 2, "registration failed")
    old_pid = host.service(AGENT_SERVICE).pid
    saved = json.loads(json.dumps(world_state(world)))

    fresh = build_world(SCENARIO)
    restore_world(fresh, saved)
    again = fresh.hosts["SYNC01"]
    assert again.agent_proxy == "http://proxy.contoso.com:8080"
    assert b"planted line" in again.file(again.trace_path()).content
    assert [e["id"] for e in again.event_logs[ADMIN_CHANNEL.lower()]][-1] == 2001
    svc = again.service(AGENT_SERVICE)
    assert svc.status == "Running" and svc.pid and svc.pid in again.processes
    assert old_pid is not None
