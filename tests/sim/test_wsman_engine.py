"""pywinrm -> WS-Man listener -> the real PowerShell engine (simulator.host)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import winrm
from winrm.protocol import Protocol

pytest.importorskip("simulator.pwsh.process")

from simulator.world import default_world
from simulator.wsman import WsmanServer

USER, PASSWORD = "SIMDOM\\operator", "Op-Secret-1"


@pytest.fixture()
def server() -> Iterator[tuple[WsmanServer, Any]]:
    host = default_world("SIM01", startup_cost_s=0).hosts["SIM01"]
    with WsmanServer(host, accounts=[f"{USER}:{PASSWORD}"]) as srv:
        yield srv, host


def test_run_ps_through_the_engine(server: tuple[WsmanServer, Any]) -> None:
    srv, host = server
    session = winrm.Session(srv.url, auth=(USER, PASSWORD), transport="ntlm")
    result = session.run_ps("Write-Output 'hi'")
    assert (result.status_code, result.std_out.strip()) == (0, b"hi")
    assert "Write-Output 'hi'" in host.record.script_blocks


def test_run_cmd_hostname_through_the_engine(server: tuple[WsmanServer, Any]) -> None:
    srv, _ = server
    session = winrm.Session(srv.url, auth=(USER, PASSWORD), transport="ntlm")
    result = session.run_cmd("hostname")
    assert (result.status_code, result.std_out.strip()) == (0, b"SIM01")


def test_long_lived_powershell_fed_through_stdin(server: tuple[WsmanServer, Any]) -> None:
    srv, _ = server
    p = Protocol(
        srv.url,
        transport="ntlm",
        username=USER,
        password=PASSWORD,
        message_encryption="always",
        operation_timeout_sec=2,
        read_timeout_sec=4,
    )
    shell = p.open_shell()
    cid = p.run_command(shell, "powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", "-"])
    p.send_command_input(shell, cid, b"$x = 40 + 2\r\n")
    p.send_command_input(shell, cid, b"Write-Output $x\r\n", end=True)
    out, _err, code = p.get_command_output(shell, cid)
    p.cleanup_command(shell, cid)
    p.close_shell(shell)
    assert (out.strip(), code) == (b"42", 0)
