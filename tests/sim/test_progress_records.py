"""Progress records as Windows PowerShell 5.1 writes them over WinRM, and the loader's silence.

Sources:
- ConsoleHost serialises progress, verbose, warning and error records to redirected stderr as
  CLIXML when started with -EncodedCommand and not interactive (the ``#< CLIXML`` stream
  pywinrm receives; ``<Obj S="progress">`` with a ``PR`` record): ansible issue 67964
  (https://github.com/ansible/ansible/issues/67964, progress CLIXML on stderr of a WinRM
  -EncodedCommand) and PowerShell PR 21373 (ProgressRecord in the CLIXML minishell output).
- Invoke-WebRequest with its progress bar is orders of magnitude slower in 5.1 (PowerShell issue
  2138, https://github.com/PowerShell/PowerShell/issues/2138); ``$ProgressPreference =
  'SilentlyContinue'`` avoids both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulator.host import INSTALLER_SHA256, INSTALLER_URL, SimHost
from simulator.pwsh.testing import collect, encode_command, run_encoded, run_stdin
from simulator.world import build_world
from workers.domain.config import InstallerSource, TenantConfig
from workers.domain.model import Cloud
from workers.runbook.powershell import parse_clixml
from workers.runbook.steps import stage_step

BOOTSTRAP = Path(__file__).resolve().parents[2] / "workers" / "runbook" / "bootstrap.ps1"
SILENCE = "$ProgressPreference = 'SilentlyContinue'"
DOWNLOAD = (
    # TLS 1.2 forced first, as the runbook does: Windows PowerShell 5.1 does not offer it unasked
    "[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12; "
    f"Invoke-WebRequest -Uri '{INSTALLER_URL}' -OutFile 'C:\\Windows\\TEMP\\x.exe' -UseBasicParsing"
)


def _host() -> SimHost:
    return build_world({"hosts": [{"name": "SIM01", "startup_cost_s": 0}]}).hosts["SIM01"]


def _modelled(host: SimHost, cmdlet: str) -> float:
    return sum(c.modelled_s for c in host.record.cmdlets if c.name.lower() == cmdlet.lower())


def test_write_progress_is_clixml_on_stderr_of_an_encoded_command() -> None:
    r = run_encoded(
        _host(),
        "Write-Progress -Activity 'Copying' -Status 'half' -PercentComplete 50; "
        "Write-Progress -Activity 'Copying' -Completed; 'ok'",
    )
    assert r.exit_code == 0 and r.stdout == "ok\r\n"
    assert r.stderr.startswith("#< CLIXML\r\n<Objs ")
    assert '<Obj S="progress" RefId="0"><TN RefId="0">' in r.stderr
    assert "<AV>Copying</AV><AI>0</AI><Nil /><PI>-1</PI><PC>50</PC><T>Processing</T>" in r.stderr
    assert '<Obj S="progress" RefId="1"><TNRef RefId="0" />' in r.stderr
    assert "<T>Completed</T>" in r.stderr and r.stderr.endswith("</Objs>")
    assert parse_clixml(r.stderr) == []  # the runbook reads no error into progress


def test_silenced_or_not_serialised_means_no_record() -> None:
    silenced = run_encoded(_host(), f"{SILENCE}; Write-Progress -Activity 'Copying'; 'ok'")
    assert silenced.stderr == "" and silenced.stdout == "ok\r\n"
    piped = run_stdin(_host(), ["Write-Progress -Activity 'Copying'", "'ok'"])
    assert "progress" not in piped.stderr


def test_invoke_webrequest_with_progress_is_much_slower() -> None:
    slow_host, fast_host = _host(), _host()
    slow = run_encoded(slow_host, DOWNLOAD)
    fast = run_encoded(fast_host, f"{SILENCE}; {DOWNLOAD}")
    assert slow.stderr.count('S="progress"') > 5 and fast.stderr == ""
    assert _modelled(slow_host, "Invoke-WebRequest") >= 10 * _modelled(
        fast_host, "Invoke-WebRequest"
    )
    for host in (slow_host, fast_host):
        staged = host.file("C:\\Windows\\TEMP\\x.exe")
        assert staged is not None and staged.signer


def _loader(host: SimHost, text: str, frames: list[dict[str, Any]]) -> tuple[list[Any], str]:
    proc = host.start_process(
        "powershell.exe", ["-NoProfile", "-NonInteractive", "-EncodedCommand", encode_command(text)]
    )
    proc.feed_stdin("".join(json.dumps(f) + "\r\n" for f in frames).encode("utf-8"), True)
    r = collect(proc)
    results = [json.loads(x[13:]) for x in r.stdout.splitlines() if x.startswith("@@CLOUDSYNC@@")]
    return results, r.stderr


def _stage_from_url() -> dict[str, Any]:
    tenant = TenantConfig(
        name="contoso",
        cloud=Cloud.PUBLIC,
        entra_admin_secret="entra_admin",
        global_admin_secret=None,
        enterprise_admin_secret=None,
        forest_admin_secret=None,
        domains={},
        installer=InstallerSource(source="url", url=INSTALLER_URL, sha256=INSTALLER_SHA256),
    )
    step = stage_step(tenant)
    return {"type": "step", "id": step.id, "check": "", "script": step.script}


def test_loader_output_has_no_progress_clixml() -> None:
    frames = [
        _stage_from_url(),
        {"type": "step", "id": "bar", "check": "", "script": "Write-Progress -Activity 'x'; 1"},
        {"type": "exit"},
    ]
    host = _host()
    results, stderr = _loader(host, BOOTSTRAP.read_text(), frames)
    assert [r["status"] for r in results] == ["done", "done"], results
    assert "progress" not in stderr and stderr == ""
    # the same loader without its silencing line would have leaked them, slowly
    loud_host = _host()
    loud = BOOTSTRAP.read_text().replace(SILENCE, "")
    assert SILENCE not in loud
    results, stderr = _loader(loud_host, loud, frames)
    assert [r["status"] for r in results] == ["done", "done"], results
    assert 'S="progress"' in stderr
    assert _modelled(loud_host, "Invoke-WebRequest") > 10 * _modelled(host, "Invoke-WebRequest")
