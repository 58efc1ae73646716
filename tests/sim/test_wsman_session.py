"""pywinrm (unmodified) against the WS-Man listener with stand-in processes: shells, streams."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import winrm
from winrm.exceptions import WinRMOperationTimeoutError
from winrm.protocol import Protocol

from simulator.wsman import WsmanServer
from simulator.wsman.standin import StandInHost

USER, PASSWORD = "SIMDOM\\operator", "Op-Secret-1"


@pytest.fixture()
def host() -> StandInHost:
    return StandInHost("SIM01")


@pytest.fixture()
def server(host: StandInHost) -> Iterator[WsmanServer]:
    with WsmanServer(host, accounts=[f"{USER}:{PASSWORD}"]) as srv:
        yield srv


def protocol(url: str, op_timeout: int = 20, read_timeout: int = 30) -> Protocol:
    return Protocol(
        url,
        transport="ntlm",
        username=USER,
        password=PASSWORD,
        message_encryption="always",
        operation_timeout_sec=op_timeout,
        read_timeout_sec=read_timeout,
    )


@pytest.mark.parametrize("encryption", ["always", "auto"])
def test_session_run_cmd_over_encrypted_ntlm(server: WsmanServer, encryption: str) -> None:
    session = winrm.Session(
        server.url, auth=(USER, PASSWORD), transport="ntlm", message_encryption=encryption
    )
    first = session.run_cmd("hostname")
    second = session.run_cmd("hostname")
    assert (first.status_code, first.std_out, first.std_err) == (0, b"SIM01\r\n", b"")
    assert second.std_out == b"SIM01\r\n"


def test_exit_code_and_stderr(server: WsmanServer) -> None:
    session = winrm.Session(server.url, auth=(USER, PASSWORD), transport="ntlm")
    result = session.run_cmd("fail", ["7"])
    assert result.status_code == 7
    assert result.std_err == b"it failed\r\n"


def test_one_shell_serves_many_commands_and_stdin(server: WsmanServer, host: StandInHost) -> None:
    p = protocol(server.url)
    shell = p.open_shell()
    outputs = []
    for _ in range(3):
        cid = p.run_command(shell, "hostname")
        outputs.append(p.get_command_output(shell, cid))
        p.cleanup_command(shell, cid)
    cid = p.run_command(shell, "cat")
    p.send_command_input(shell, cid, b"line one\r\n")
    p.send_command_input(shell, cid, b"line two\r\n", end=True)
    echoed = p.get_command_output(shell, cid)
    p.cleanup_command(shell, cid)
    p.close_shell(shell)
    assert outputs == [(b"SIM01\r\n", b"", 0)] * 3
    assert echoed == (b"line one\r\nline two\r\n", b"", 0)
    assert host.record.command_lines == ["hostname"] * 3 + ["cat"]
    assert server.shells.shell_count() == 0


def test_receive_is_held_then_times_out_and_client_retries(server: WsmanServer) -> None:
    p = protocol(server.url, op_timeout=1, read_timeout=2)
    shell = p.open_shell()
    cid = p.run_command(shell, "cat")
    with pytest.raises(WinRMOperationTimeoutError):
        p.get_command_output_raw(shell, cid)  # nothing to say: held ~1 s, then TimedOut
    p.send_command_input(shell, cid, b"late\r\n", end=True)
    assert p.get_command_output(shell, cid) == (b"late\r\n", b"", 0)
    slow = p.run_command(shell, "slow", ["1.2", "finally"])
    assert p.get_command_output(shell, slow) == (b"finally\r\n", b"", 0)
    p.close_shell(shell)


def test_long_output_is_streamed_over_several_receives(
    server: WsmanServer, host: StandInHost
) -> None:
    p = protocol(server.url)
    shell = p.open_shell()
    cid = p.run_command(shell, "big", ["200000"])
    before = host.record.http_requests
    out, err, code = p.get_command_output(shell, cid)
    assert (len(out), err, code) == (200000, b"", 0)
    assert host.record.http_requests - before == 4  # 64 KiB per Receive
    p.close_shell(shell)


def test_terminate_signal_stops_a_running_command(server: WsmanServer) -> None:
    p = protocol(server.url, op_timeout=1, read_timeout=2)
    shell = p.open_shell()
    cid = p.run_command(shell, "sleep")
    p.cleanup_command(shell, cid)  # terminate signal
    with pytest.raises(winrm.exceptions.WSManFaultError) as err:
        p.get_command_output_raw(shell, cid)
    assert err.value.wsman_fault_code == 2150858843
    p.close_shell(shell)


def test_every_http_request_is_counted(server: WsmanServer, host: StandInHost) -> None:
    session = winrm.Session(server.url, auth=(USER, PASSWORD), transport="ntlm")
    session.run_cmd("hostname")
    # 3 for the NTLM handshake + empty POST, then Create, Command, Receive, Signal, Delete.
    assert host.record.http_requests == 8


def test_run_ps_command_line_reaches_the_host(server: WsmanServer, host: StandInHost) -> None:
    session = winrm.Session(server.url, auth=(USER, PASSWORD), transport="ntlm")
    session.run_ps("Write-Output 'hi'")
    encoded = base64.b64encode("Write-Output 'hi'".encode("utf-16-le")).decode()
    assert host.record.command_lines == [f"powershell -encodedcommand {encoded}"]
