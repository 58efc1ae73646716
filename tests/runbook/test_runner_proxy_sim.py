"""proxy set / clear through the runner against the simulator over real WinRM: the modelled
config file changes, the agent restarts and reads it, verify confirms; a repeat changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.dom import minidom

from simulator.host import AGENT_CONFIG
from simulator.pwsh.testing import run_encoded
from tests.runbook.conftest import SimEnv
from tests.runbook.test_runner_sim import (
    assert_no_secret_on_host,
    events,
    make_runner,
    never,
    request,
    statuses,
)
from workers.domain.model import ChangeKind, ChangeSpec
from workers.runbook import proxy
from workers.runbook.proxy import bypass_regex

URL = "http://proxy.contoso.com:8080"
BYPASS = ("*.contoso.com", "10.0.0.5")
AGENT = {"agent_installed": {"domains": ["contoso.com"], "gmsa": "CONTOSO\\pGMSA_1a2b3c$"}}


def restarts(env: SimEnv) -> int:
    return len(
        [
            e
            for e in events(env, "SYNC01", "service_restarted")
            if e.get("service") == "AADConnectProvisioningAgent"
        ]
    )


def proxy_of(env: SimEnv) -> tuple[str | None, list[str]]:
    """(proxyaddress, bypass addresses) as the modelled file holds them."""
    entry = env.host("SYNC01").file(AGENT_CONFIG)
    assert entry is not None
    dom = minidom.parseString(entry.content)
    found = dom.getElementsByTagName("proxy")
    url = found[0].getAttribute("proxyaddress") if found else None
    lists = dom.getElementsByTagName("bypasslist")
    return url, [a.getAttribute("address") for b in lists for a in b.getElementsByTagName("add")]


def test_proxy_set_changes_the_file_restarts_verifies_and_a_repeat_is_skipped(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01", **AGENT}])
    runner, progress = make_runner(env, rclient)
    change = ChangeSpec(ChangeKind.PROXY_SET, ("SYNC01",), proxy_url=URL, proxy_bypass=BYPASS)
    host = env.host("SYNC01")
    assert host.agent_proxy is None and restarts(env) == 0

    out = runner.run(request(change), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    got = statuses(progress, "CS-0001", "SYNC01")
    assert got == {
        "preflight": "done",
        "proxy_backup": "done",
        "proxy": "done",
        "restart": "done",
        "verify": "done",
    }
    assert proxy_of(env) == (URL, [bypass_regex(b) for b in BYPASS])
    assert restarts(env) == 1
    assert host.agent_proxy == URL  # the restarted agent read the new file
    assert host.service("AADConnectProvisioningAgent").status == "Running"  # type: ignore[union-attr]
    backups = [k for k in host.files if ".exe.config.bak-" in k]
    assert len(backups) == 1
    results = {r.step_id: r for r in progress.results("CS-0001", "SYNC01")}
    assert "saved a copy" in results["proxy_backup"].summary
    assert URL in results["verify"].summary and "Running" in results["verify"].summary

    # The same change again: the checks find it in place; no backup, no edit, no restart.
    saved = host.file(AGENT_CONFIG)
    out2 = runner.run(request(change, "CS-0002"), should_stop=never)
    assert out2.status == "succeeded", out2.to_dict()
    got2 = statuses(progress, "CS-0002", "SYNC01")
    assert [got2[s] for s in ("proxy_backup", "proxy", "restart")] == ["skipped"] * 3
    assert got2["verify"] == "done"
    again = {r.step_id: r for r in progress.results("CS-0002", "SYNC01")}
    assert again["proxy"].summary.startswith("already set")
    assert restarts(env) == 1
    assert host.file(AGENT_CONFIG) == saved  # not even rewritten
    assert len([k for k in host.files if ".exe.config.bak-" in k]) == 1

    # Clear: the <defaultProxy> goes, the agent restarts onto the machine's defaults.
    clear = ChangeSpec(ChangeKind.PROXY_CLEAR, ("SYNC01",))
    out3 = runner.run(request(clear, "CS-0003"), should_stop=never)
    assert out3.status == "succeeded", out3.to_dict()
    assert set(statuses(progress, "CS-0003", "SYNC01").values()) == {"done"}
    assert proxy_of(env) == (None, [])
    assert host.agent_proxy is None and restarts(env) == 2
    assert_no_secret_on_host(env)


def test_a_config_that_is_not_xml_stops_at_the_edit_with_the_backup_kept(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """A config file that is not XML: the backup still runs, the edit's XmlDocument.Load throws
    .NET's message, nothing is written, and the hint points at the backup."""
    env = sim_env([{"name": "SYNC01", **AGENT, "agent_config": "<configuration>"}])
    runner, progress = make_runner(env, rclient)
    change = ChangeSpec(ChangeKind.PROXY_SET, ("SYNC01",), proxy_url=URL)
    out = runner.run(request(change), should_stop=never)
    assert out.status == "failed", out.to_dict()
    got = statuses(progress, "CS-0001", "SYNC01")
    assert got["proxy_backup"] == "done"
    assert got["proxy"] == "failed"  # the file is not XML: Load throws, nothing is written
    failed = {r.step_id: r for r in progress.results("CS-0001", "SYNC01")}["proxy"]
    assert 'Exception calling "Load"' in (failed.error or "")
    assert failed.hint and "restore that copy" in failed.hint


def test_an_edit_the_agent_has_not_read_yet_still_gets_its_restart(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """An earlier attempt wrote the file but stopped before the restart (lost session, cancel):
    the edit is skipped as already set, but the agent started before the file's last write, so
    the restart runs and the agent reads the proxy."""
    env = sim_env([{"name": "SYNC01", **AGENT}])
    host = env.host("SYNC01")
    run_encoded(host, proxy.edit_script(AGENT_CONFIG, URL, BYPASS))  # the earlier attempt
    assert host.agent_proxy is None
    runner, progress = make_runner(env, rclient)
    change = ChangeSpec(ChangeKind.PROXY_SET, ("SYNC01",), proxy_url=URL, proxy_bypass=BYPASS)
    out = runner.run(request(change), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    got = statuses(progress, "CS-0001", "SYNC01")
    assert (got["proxy_backup"], got["proxy"], got["restart"]) == ("skipped", "skipped", "done")
    assert host.agent_proxy == URL and restarts(env) == 1
