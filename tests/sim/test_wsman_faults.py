"""WS-Man faults (unknown ids, quota, unknown action) and injected HTTP-level faults."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import xmltodict
from winrm.exceptions import WSManFaultError
from winrm.protocol import Protocol

from simulator.contract import Fault
from simulator.wsman import WsmanServer
from simulator.wsman.standin import StandInHost

USER, PASSWORD = "SIMDOM\\operator", "Op-Secret-1"


@pytest.fixture()
def host() -> StandInHost:
    return StandInHost("SIM01")


@pytest.fixture()
def server(host: StandInHost) -> Iterator[WsmanServer]:
    with WsmanServer(host, accounts=[f"{USER}:{PASSWORD}"], operation_quota=6) as srv:
        yield srv


def protocol(url: str) -> Protocol:
    return Protocol(
        url,
        transport="ntlm",
        username=USER,
        password=PASSWORD,
        message_encryption="always",
        operation_timeout_sec=1,
        read_timeout_sec=3,
    )


def test_unknown_shell_is_invalid_selectors(server: WsmanServer) -> None:
    p = protocol(server.url)
    with pytest.raises(WSManFaultError) as err:
        p.run_command("00000000-0000-0000-0000-000000000000", "hostname")
    assert err.value.wsman_fault_code == 2150858843
    assert err.value.code == 500
    assert err.value.fault_subcode == "w:InvalidSelectors"


def test_operation_quota_per_shell(server: WsmanServer) -> None:
    p = protocol(server.url)
    shell = p.open_shell()  # 1
    for _ in range(2):  # 2 operations each: Command, Receive
        cid = p.run_command(shell, "hostname")
        p.get_command_output_raw(shell, cid)
    p.run_command(shell, "hostname")  # 6
    with pytest.raises(WSManFaultError) as err:
        p.run_command(shell, "hostname")
    assert err.value.wsman_fault_code == 2150859174
    other = p.open_shell()  # a fresh shell has its own quota
    assert p.run_command(other, "hostname")


def test_unknown_action_is_action_not_supported(server: WsmanServer) -> None:
    p = protocol(server.url)
    req = {
        "env:Envelope": p.build_wsman_header(
            action="http://schemas.example.org/NoSuchAction",
            resource_uri="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd",
        )
    }
    req["env:Envelope"]["env:Body"] = {}
    with pytest.raises(WSManFaultError) as err:
        p.send_message(xmltodict.unparse(req))
    assert err.value.fault_subcode == "a:ActionNotSupported"


def test_latency_fault_delays_then_answers(server: WsmanServer, host: StandInHost) -> None:
    host.faults.add(Fault(kind="latency", operation="Create", seconds=0.05))
    p = protocol(server.url)
    shell = p.open_shell()
    assert shell
    assert host.faults.all() == []


@pytest.mark.parametrize("kind", ["drop", "hang"])
def test_drop_and_hang_close_without_answer(
    server: WsmanServer, host: StandInHost, kind: Any
) -> None:
    p = protocol(server.url)
    shell = p.open_shell()
    host.faults.add(Fault(kind=kind, operation="Command", seconds=0.1))
    with pytest.raises(requests.exceptions.ConnectionError):
        p.run_command(shell, "hostname")
    fresh = protocol(server.url)
    assert fresh.run_command(shell, "hostname")  # the shell survives; only the TCP link died


def test_http500_fault(server: WsmanServer, host: StandInHost) -> None:
    host.faults.add(Fault(kind="http500"))
    with pytest.raises(WSManFaultError) as err:
        protocol(server.url).open_shell()
    assert err.value.code == 500
    assert err.value.fault_subcode == "w:InternalError"


def test_restart_service_kills_processes_and_forgets_shells(
    server: WsmanServer, host: StandInHost
) -> None:
    p = protocol(server.url)
    shell = p.open_shell()
    cid = p.run_command(shell, "sleep")
    host.faults.add(Fault(kind="restart_service", operation="Receive"))
    with pytest.raises(WSManFaultError) as err:
        p.get_command_output_raw(shell, cid)
    assert err.value.wsman_fault_code == 2150858843
    assert server.shells.shell_count() == 0
    assert [e["event"] for e in host.record.events] == ["winrm_restarted"]
    assert p.open_shell() != shell  # the restarted service still serves new shells


def test_cmdlet_armed_fault_fires_on_next_request(server: WsmanServer, host: StandInHost) -> None:
    host.faults.add(Fault(kind="http500", cmdlet="Install-Thing"))
    p = protocol(server.url)
    shell = p.open_shell()
    host.faults.take_cmdlet("Install-Thing")  # what the engine does when the cmdlet starts
    with pytest.raises(WSManFaultError):
        p.run_command(shell, "hostname")


def _call(server: WsmanServer, method: str, path: str, data: Any = None) -> Any:
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(server.base_url + path, data=body, method=method)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_control_endpoints(server: WsmanServer, host: StandInHost) -> None:
    assert _call(server, "GET", "/_sim/health")["host"] == "SIM01"
    _call(server, "POST", "/_sim/faults", {"kind": "http500", "operation": "Create"})
    assert [f.kind for f in host.faults.all()] == ["http500"]
    _call(server, "DELETE", "/_sim/faults")
    assert host.faults.all() == []
    p = protocol(server.url)
    p.run_command(p.open_shell(), "hostname")
    record = _call(server, "GET", "/_sim/record")
    assert record["command_lines"] == ["hostname"]
    assert record["http_requests"] == 5  # control calls are not counted
    _call(server, "POST", "/_sim/record/reset")
    assert _call(server, "GET", "/_sim/record")["http_requests"] == 0
