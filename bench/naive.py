"""The naive way, for comparison only: every step its own ``winrm.Session.run_ps`` (a new shell
and a new powershell.exe each time), re-importing the module and signing in again whenever the
step needs it, with the credentials inlined in the script text as such code usually does.

This exists ONLY in the benchmark against the simulator: it puts passwords into script text,
which the product never does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import winrm

from workers.domain.config import HostConfig
from workers.domain.secrets import SecretsProvider
from workers.runbook.steps import Step


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class NaiveStep:
    step: str
    seconds: float
    ok: bool
    error: str = ""


def naive_script(
    step: Step, import_step: Step, connect_step: Step, secrets: SecretsProvider
) -> str:
    """One self-contained script: inline credentials, module import and sign-in as needed,
    then the step's check and script."""
    names = list(step.credentials)
    needs_connect = step.needs_connect or step.id == "connect"
    if needs_connect:
        names += [n for n in connect_step.credentials if n not in names]
    lines = ["$ErrorActionPreference = 'Stop'", "$Secrets = @{}"]
    for name in names:
        cred = secrets.get(name)
        lines.append(
            f"$Secrets[{_literal(name)}] = New-Object System.Management.Automation.PSCredential("
            f"{_literal(cred.user)}, (ConvertTo-SecureString {_literal(cred.password)} "
            "-AsPlainText -Force))"
        )
    if (step.needs_import or needs_connect) and step.id != "import":
        lines.append(import_step.script)
    if needs_connect and step.id != "connect":
        lines.append(connect_step.script)
    if step.check:
        lines.append(f"$done = & {{\n{step.check}\n}}")
        lines.append(f"if ($done -ne $true) {{\n{step.script}\n}}")
    else:
        lines.append(step.script)
    return "\n".join(lines)


def run_naive(
    host: HostConfig, steps: list[Step], secrets: SecretsProvider
) -> tuple[float, list[NaiveStep]]:
    login = secrets.get(host.credential)
    by_id = {s.id: s for s in steps}
    session = winrm.Session(
        host.url,
        auth=(login.user, login.password),
        transport=host.transport,
        message_encryption=host.message_encryption,
    )
    out: list[NaiveStep] = []
    began = time.perf_counter()
    for step in steps:
        script = naive_script(step, by_id["import"], by_id["connect"], secrets)
        t0 = time.perf_counter()
        response = session.run_ps(script)
        ok = response.status_code == 0
        error = "" if ok else f"exit {response.status_code}"
        out.append(NaiveStep(step.id, time.perf_counter() - t0, ok, error))
        if not ok:
            break
    return time.perf_counter() - began, out
