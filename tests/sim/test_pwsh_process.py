"""The process model: command lines, -EncodedCommand, -Command -, cmd builtins, terminate."""

from __future__ import annotations

import threading

import pytest

from simulator.contract import Fault
from simulator.host import SimHost
from simulator.pwsh.process import PowerShellArgs, split_command_line
from simulator.pwsh.testing import (
    clean_clixml,
    collect,
    encode_command,
    run_encoded,
    run_stdin,
)
from simulator.world import default_world


@pytest.fixture
def host() -> SimHost:
    return default_world(startup_cost_s=0, install_s=0).hosts["SIM01"]


def test_split_command_line_windows_rules() -> None:
    assert split_command_line('powershell -c "a b" c\\d "e\\"f" g\\\\"h i"') == [
        "powershell",
        "-c",
        "a b",
        "c\\d",
        'e"f',
        "g\\h i",
    ]


@pytest.mark.parametrize(
    ("tokens", "mode"),
    [
        (["-NoProfile", "-NonInteractive", "-Command", "-"], "stdin"),
        (["-nop", "-noni", "-c", "-"], "stdin"),
        (["-File", "-"], "stdin"),
        (["-EncodedCommand", encode_command("1")], "encoded"),
        (["-enc", encode_command("1")], "encoded"),
        (["-ec", encode_command("1")], "encoded"),
        (
            ["-ExecutionPolicy", "Bypass", "-OutputFormat", "Text", "-Command", "Get-Date"],
            "command",
        ),
        (["Get-Date"], "command"),
    ],
)
def test_powershell_flags(tokens: list[str], mode: str) -> None:
    assert PowerShellArgs(tokens).mode == mode


def test_pywinrm_style_single_string_command(host: SimHost) -> None:
    proc = host.start_process(
        f"powershell -encodedcommand {encode_command('hostname; whoami')}", []
    )
    r = collect(proc)
    assert r.stdout == "SIM01\r\ncontoso\\svc-cloudsync\r\n"
    assert r.exit_code == 0
    assert host.record.command_lines[-1].startswith("powershell -encodedcommand ")
    assert host.record.script_blocks[-1] == "hostname; whoami"


def test_argument_list_style_and_command_text(host: SimHost) -> None:
    proc = host.start_process(
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        ["-NoProfile", "-Command", "'a' + 'b'"],
    )
    assert collect(proc).stdout == "ab\r\n"


def test_encoded_command_reads_stdin_as_data_not_script(host: SimHost) -> None:
    script = '$l = [Console]::In.ReadLine(); $m = [Console]::In.ReadLine(); "got $l"; $null -eq $m'
    r = run_encoded(host, script, stdin="payload-line\n")
    assert r.stdout == "got payload-line\r\nTrue\r\n"
    assert all("payload-line" not in b for b in host.record.script_blocks)


def test_readline_blocks_until_data_arrives(host: SimHost) -> None:
    proc = host.start_process(
        "powershell.exe", ["-EncodedCommand", encode_command("[Console]::In.ReadLine()")]
    )
    first = proc.read_output(0.2)
    assert not first.done and first.stdout == b""
    proc.feed_stdin(b"late\r\n", False)
    r = collect(proc)
    assert r.stdout == "late\r\n"


def test_command_stdin_keeps_one_session(host: SimHost) -> None:
    r = run_stdin(host, ["$x = 41", "$x += 1", "if ($x -eq 42) {", "  'answer'", "}", "$x"])
    assert r.stdout == "answer\r\n42\r\n"
    assert host.record.script_blocks == [
        "$x = 41",
        "$x += 1",
        "if ($x -eq 42) {\n  'answer'\n}",
        "$x",
    ]


def test_command_stdin_error_does_not_end_session(host: SimHost) -> None:
    r = run_stdin(host, ["throw 'one'", "'two'"])
    assert r.stdout == "two\r\n"
    assert "one" in clean_clixml(r.stderr)


def test_exit_in_stdin_session(host: SimHost) -> None:
    proc = host.start_process("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", "-"])
    proc.feed_stdin(b"exit 5\r\n", False)
    r = collect(proc)
    assert r.exit_code == 5


@pytest.mark.parametrize(
    ("command", "args", "stdout", "code"),
    [
        ("hostname", [], "SIM01\r\n", 0),
        ("cmd", ["/c", "hostname"], "SIM01\r\n", 0),
        ("cmd.exe /c whoami", [], "contoso\\svc-cloudsync\r\n", 0),
        ("echo", ["hello", "world"], "hello world\r\n", 0),
    ],
)
def test_cmd_builtins(host: SimHost, command: str, args: list[str], stdout: str, code: int) -> None:
    r = collect(host.start_process(command, args))
    assert (r.stdout, r.exit_code) == (stdout, code)


def test_unknown_cmd_program(host: SimHost) -> None:
    r = collect(host.start_process("ipconfig", ["/all"]))
    assert (
        r.stderr
        == "'ipconfig' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"  # noqa: E501
    )
    assert r.exit_code == 1


def test_terminate_stops_sleep_promptly(host: SimHost) -> None:
    proc = host.start_process(
        "powershell.exe", ["-EncodedCommand", encode_command("Start-Sleep -Seconds 600")]
    )
    proc.terminate()
    r = collect(proc, timeout=5)
    assert r.exit_code == -1


def test_terminate_unblocks_readline(host: SimHost) -> None:
    proc = host.start_process("powershell.exe", ["-NoProfile", "-Command", "-"])
    proc.feed_stdin(b"[Console]::In.ReadLine()\r\n", False)
    proc.terminate()
    assert collect(proc, timeout=5).exit_code == -1


def test_kill_all_processes(host: SimHost) -> None:
    procs = [host.start_process("powershell.exe", ["-Command", "-"]) for _ in range(3)]
    host.kill_all_processes()
    assert all(collect(p, timeout=5).exit_code == -1 for p in procs)


def test_startup_cost_is_modelled_and_recorded() -> None:
    h = default_world(startup_cost_s=0.05).hosts["SIM01"]
    run_encoded(h, "1")
    startup = [c for c in h.record.cmdlets if c.name == "<powershell.exe startup>"]
    assert startup and startup[0].modelled_s == pytest.approx(0.05)


def test_latency_fault_counts_as_modelled_time(host: SimHost) -> None:
    host.faults.add(Fault(kind="latency", cmdlet="Get-Date", seconds=0.05))
    run_encoded(host, "Get-Date | Out-Null; Start-Sleep -Milliseconds 20")
    calls = {c.name: c for c in host.record.cmdlets}
    assert calls["Get-Date"].modelled_s == pytest.approx(0.05)
    assert calls["Start-Sleep"].modelled_s == pytest.approx(0.02)
    assert calls["Get-Date"].parameters == []


def test_fail_fault(host: SimHost) -> None:
    host.faults.add(Fault(kind="fail", cmdlet="get-service", message="injected failure"))
    r = run_encoded(host, "try { Get-Service WinRM } catch { $_.Exception.Message }")
    assert r.stdout == "injected failure\r\n"
    failed = next(c for c in host.record.cmdlets if c.name == "Get-Service")
    assert not failed.ok and failed.error == "injected failure"


def test_hang_fault_blocks_until_terminate(host: SimHost) -> None:
    host.faults.add(Fault(kind="hang", cmdlet="Get-Service"))
    proc = host.start_process(
        "powershell.exe", ["-EncodedCommand", encode_command("Get-Service WinRM; 'after'")]
    )
    assert not proc.read_output(0.3).done
    proc.terminate()
    r = collect(proc, timeout=5)
    assert r.exit_code == -1 and "after" not in r.stdout


def test_sessions_run_concurrently(host: SimHost) -> None:
    results: list[str] = []

    def one(i: int) -> None:
        results.append(run_encoded(host, f"Start-Sleep -Milliseconds 50; 'p{i}'").stdout)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [f"p{i}\r\n" for i in range(4)]
