"""An independent client against the listener: pypsrp (its own WS-Man, NTLM and encryption code).

pywinrm wrote the listener's first tests; pypsrp was written separately from pywinrm and from this
simulator, so what it accepts is a second opinion on the wire format. Over http with NTLM and
``encryption="always"`` every body is sealed by pypsrp's own implementation of MS-WSMV 2.2.9.1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import winrm
from pypsrp.client import Client
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import RunspacePool
from pypsrp.shell import Process, SignalCode, WinRS
from pypsrp.wsman import WSMan

pytest.importorskip("simulator.pwsh.process")

from simulator.world import default_world
from simulator.wsman import WsmanServer

USER, PASSWORD = "SIMDOM\\operator", "Op-Secret-1"


@pytest.fixture()
def server() -> Iterator[tuple[WsmanServer, Any]]:
    host = default_world("SIM01", startup_cost_s=0).hosts["SIM01"]
    with WsmanServer(host, accounts=[f"{USER}:{PASSWORD}"]) as srv:
        yield srv, host


def _where(srv: WsmanServer) -> dict[str, Any]:
    url = urlsplit(srv.url)
    return {
        "server": url.hostname,
        "port": url.port,
        "path": url.path.strip("/"),
        "ssl": False,
        "auth": "ntlm",
        "encryption": "always",
        "username": USER,
        "password": PASSWORD,
        "operation_timeout": 5,
        "read_timeout": 10,
    }


def wsman(srv: WsmanServer) -> WSMan:
    return WSMan(**_where(srv))


def test_client_execute_cmd_over_ntlm_with_encryption(server: tuple[WsmanServer, Any]) -> None:
    srv, host = server
    client = Client(**_where(srv))
    stdout, stderr, rc = client.execute_cmd("hostname")
    assert (stdout.strip(), stderr, rc) == ("SIM01", "", 0)
    stdout, _, rc = client.execute_cmd("echo hello there")
    assert (stdout.strip(), rc) == ("hello there", 0)
    assert host.record.http_requests > 0


def test_winrs_process_failure_reaches_pypsrp_as_stderr_and_exit_code(
    server: tuple[WsmanServer, Any],
) -> None:
    srv, _ = server
    with WinRS(wsman(srv)) as shell:
        process = Process(shell, "nosuch.exe")
        process.invoke()
        process.signal(SignalCode.CTRL_C)
    assert process.rc == 1
    assert b"'nosuch.exe' is not recognized as an internal or external command" in process.stderr


def test_winrs_stdin_to_a_long_lived_powershell(server: tuple[WsmanServer, Any]) -> None:
    srv, _ = server
    with WinRS(wsman(srv)) as shell:
        args = ["-NoProfile", "-NonInteractive", "-Command", "-"]
        process = Process(shell, "powershell.exe", args)
        process.begin_invoke()
        process.send(b"$x = 40 + 2\r\n", end=False)  # pypsrp ends stdin by default
        process.send(b"Write-Output $x\r\n", end=True)
        process.end_invoke()
        process.signal(SignalCode.CTRL_C)
    assert (process.stdout.strip(), process.rc) == (b"42", 0)


def test_winrs_no_shell_missing_executable_is_refused_as_windows_does(
    server: tuple[WsmanServer, Any],
) -> None:
    """pypsrp's own test of the recorded exchange (test_winrs_no_cmd_shell) asserts exactly this:
    ``exc.value.provider_fault == "The system cannot find the file specified."`` and
    ``exc.value.code == 2147942402``."""
    srv, host = server
    with WinRS(wsman(srv)) as shell:
        process = Process(shell, "nosuch.exe", ["/all"], no_shell=True)
        with pytest.raises(WSManFaultError) as exc:
            process.invoke()
        assert exc.value.provider_fault == "The system cannot find the file specified."
        assert exc.value.code == 2147942402
        assert exc.value.provider == "Shell cmd plugin"
        process.executable = "C:\\Windows\\System32\\hostname.exe"
        process.arguments = []
        process.invoke()
        process.signal(SignalCode.CTRL_C)
    assert (process.stdout.strip(), process.rc) == (b"SIM01", 0)
    assert not any("nosuch" in line for line in host.record.command_lines)


def test_powershell_remoting_gets_a_clear_refusal(server: tuple[WsmanServer, Any]) -> None:
    """A PowerShell Remoting client asks for the Microsoft.PowerShell endpoint; the simulator has
    none, so the Create is refused as Windows refuses an endpoint missing from its catalog, and
    no shell exists afterwards."""
    srv, _ = server
    pool = RunspacePool(wsman(srv))
    with pytest.raises(WSManFaultError) as exc:
        pool.open()
    assert exc.value.code == 2150858811
    assert exc.value.reason is not None
    assert (
        "The resource URI (http://schemas.microsoft.com/powershell/Microsoft.PowerShell) was not "
        "found in the WS-Management catalog." in exc.value.reason
    )
    assert srv.shells.shell_count() == 0


def test_pypsrp_and_pywinrm_sessions_side_by_side(server: tuple[WsmanServer, Any]) -> None:
    """Two independent clients at once on one listener: each gets its own answers."""
    srv, _ = server
    results: list[str] = []

    def one() -> None:
        results.append(Client(**_where(srv)).execute_cmd("hostname")[0].strip())

    def other() -> None:
        session = winrm.Session(srv.url, auth=(USER, PASSWORD), transport="ntlm")
        results.append(session.run_cmd("hostname").std_out.decode().strip())

    threads = [threading.Thread(target=f) for f in (one, other, one, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == ["SIM01"] * 4
