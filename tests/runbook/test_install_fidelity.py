"""The install step against installers and processes as Windows PowerShell 5.1 presents them.

Sources:
- ``[int]$null`` is 0 (PowerShell language conversion rules, about_Type_Conversion), so a
  missing exit code must not read as success.
- ``Start-Process -NoNewWindow -PassThru`` without ``-Wait``: ``ExitCode`` stays $null unless
  ``.Handle`` was read (PowerShell issue 5421, https://github.com/PowerShell/PowerShell/issues/5421).
- ``Start-Process -Wait`` waits for the whole process tree: StartProcessCommand puts the process
  in a job object (``JobProcessCollection``, "used by Start-Process -Wait cmdlet to monitor the
  child processes", src/Microsoft.PowerShell.Commands.Management/commands/management/Process.cs).
- The installer is a WiX Burn bundle: "/log log.txt - logs to a specific file" (wixstdba help).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simulator.pwsh.testing import run_encoded
from simulator.world import build_world
from tests.runbook.conftest import SimEnv
from tests.runbook.test_runner_sim import host_failure, install_change, make_runner, never, request
from workers.runbook.steps import INSTALL_LOG

SETUP = "\\\\fs01\\install\\AADConnectProvisioningAgentSetup.exe"


def _host(**spec: Any) -> Any:
    # these tests start the installer straight from the share: a delegated (CredSSP) logon may
    full = {"name": "SIM01", "startup_cost_s": 0, "install_s": 0, "credssp_delegation": True}
    full.update(spec)
    return build_world({"hosts": [full]}).hosts["SIM01"]


def test_nonewwindow_without_wait_hides_the_exit_code_unless_the_handle_is_read() -> None:
    start = f"$p = Start-Process '{SETUP}' -ArgumentList '/quiet' -NoNewWindow -PassThru"
    hidden = run_encoded(_host(), f"{start}; $p.WaitForExit(); $null -eq $p.ExitCode")
    assert hidden.stdout == "True\r\n"
    shown = run_encoded(_host(), f"{start}; $null = $p.Handle; $p.WaitForExit(); $p.ExitCode")
    assert shown.stdout == "0\r\n"


def test_missing_exit_code_and_int_null() -> None:
    host = _host(installer_exit_codes=[None])
    script = (
        f"$p = Start-Process '{SETUP}' -ArgumentList '/quiet' -NoNewWindow -PassThru; "
        "$null = $p.Handle; $p.WaitForExit(); $null -eq $p.ExitCode; [int]$p.ExitCode"
    )
    assert run_encoded(host, script).stdout == "True\r\n0\r\n"


def test_leftover_child_makes_wait_hang_but_not_waitforexit() -> None:
    spec = {"installer_leftover_child": {"name": "LeftBehind", "seconds": 2.0}}
    host = _host(**spec)
    began = time.monotonic()
    run_encoded(host, f"Start-Process '{SETUP}' -ArgumentList '/quiet' -NoNewWindow -Wait")
    assert time.monotonic() - began >= 1.9  # -Wait waited for the child too
    host = _host(**spec)
    began = time.monotonic()
    out = run_encoded(
        host,
        f"$p = Start-Process '{SETUP}' -ArgumentList '/quiet' -NoNewWindow -PassThru; "
        "$null = $p.Handle; $p.WaitForExit(); $p.ExitCode; "
        "[bool](Get-Process -Name LeftBehind -ErrorAction SilentlyContinue)",
    )
    assert time.monotonic() - began < 1.5
    assert out.stdout == "0\r\nTrue\r\n"


def test_installer_writes_its_log_where_asked() -> None:
    host = _host(installer_exit_codes=[1603])
    run_encoded(
        host,
        f"Start-Process '{SETUP}' -ArgumentList '/quiet','/log','{INSTALL_LOG}' -Wait",
    )
    log = host.file(INSTALL_LOG)
    assert log is not None and b"0x643" in log.content  # 1603


def test_missing_exit_code_fails_the_step_naming_the_log(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01", "installer_exit_codes": [None]}])
    runner, _progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    stopped, error, hint = host_failure(out, "SYNC01")
    assert stopped == "install"
    assert "exit code unknown" in (error or "") and INSTALL_LOG in (error or "")
    assert INSTALL_LOG in (hint or "")


def test_failure_names_the_log_the_installer_wrote(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01", "installer_exit_codes": [1603]}])
    runner, _progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    _stopped, error, _hint = host_failure(out, "SYNC01")
    assert "installer exit 1603" in (error or "") and INSTALL_LOG in (error or "")
    assert env.host("SYNC01").file(INSTALL_LOG) is not None


def test_leftover_child_does_not_hang_the_install(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    child = {"name": "LeftBehind", "seconds": 600.0}
    env = sim_env([{"name": "SYNC01", "installer_leftover_child": child}])
    runner, _progress = make_runner(env, rclient, timeouts={"install": 20})
    began = time.monotonic()
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    assert time.monotonic() - began < 20
