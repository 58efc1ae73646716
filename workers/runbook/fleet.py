# ruff: noqa: E501  (PowerShell templates keep one statement a line)
"""Read-only views over the inventory: agent facts per host, and preflight for an approval.

Everything here is read-only and never raises for a host: an unreachable host is reported as
such, so one dead server does not hide the rest of the fleet.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from workers.domain.config import Config, HostConfig, InstallerSource, installer_for
from workers.domain.model import HostPreflight, Problem
from workers.domain.redact import default_redactor
from workers.domain.secrets import SecretError, SecretsProvider
from workers.runbook.powershell import render
from workers.runbook.preflight import evaluate, gmsa_script, judge_gmsa, judge_kds, kds_script
from workers.runbook.session import RunbookSession, SessionLost, StepFailed, run_readonly
from workers.runbook.staging import (
    host_check,
    judge_host_check,
    second_hop_problem,
    worker_problems,
)
from workers.runbook.steps import (
    AGENT_EXE,
    AGENT_KEY,
    AGENT_MODULE,
    AGENT_SERVICE,
    UPDATER_DISPLAY,
    preflight_script,
)

log = logging.getLogger(__name__)


def _why(exc: Exception, host: str) -> str:
    """What to tell the admin: the message of an expected failure (unreachable, refused login,
    missing secret, failed script), else "internal error" with the exception's type, logged with
    its traceback (a bare ``'no_proxy'`` helps nobody)."""
    if isinstance(exc, SecretError):  # its name only: the reference may be a file path
        return exc.public
    if isinstance(exc, SessionLost | StepFailed):
        return default_redactor.redact(str(exc)) or type(exc).__name__
    log.exception("reading %s failed", host)
    return default_redactor.redact(f"internal error: {type(exc).__name__}: {exc}")


# Get-AADCloudSyncDomains' property names are not documented: DomainName when present, else the
# first string property that looks like a DNS name (see steps.domain_step).
FACTS = r"""
$f = [ordered]@{ installed = [bool](Test-Path -Path <<agent_key>>); version = $null; service = $null; updater = $null; logon = $null; domains = @(); errors = @() }
if ($f['installed']) {
    try { $f['version'] = [string](Get-Item -Path <<agent_exe>> -ErrorAction Stop).VersionInfo.ProductVersion } catch { }
    try { $f['service'] = [string](Get-Service -Name <<service>> -ErrorAction Stop).Status } catch { }
    try { $f['updater'] = [string]@(Get-Service -DisplayName <<updater>> -ErrorAction Stop)[0].Status } catch { }
    try { $f['logon'] = [string](Get-CimInstance -ClassName Win32_Service -Filter "Name='AADConnectProvisioningAgent'" -ErrorAction Stop).StartName } catch { }
    try {
        Import-Module -Name <<module>> -ErrorAction Stop
        $names = @()
        foreach ($d in @(Get-AADCloudSyncDomains)) {
            $n = $null
            if ($d -is [string]) { $n = $d } elseif ($d.DomainName) { $n = [string]$d.DomainName }
            else { foreach ($p in @($d.PSObject.Properties)) { if ((-not $n) -and ($p.Value -is [string]) -and ($p.Value -like '*.*')) { $n = $p.Value } } }
            if ($n) { $names += [string]$n }
        }
        $f['domains'] = $names
    } catch { }
    try { $f['errors'] = @(Get-WinEvent -FilterHashtable @{ LogName = <<event_channel>>; Level = 2 } -MaxEvents <<max_events>> -ErrorAction Stop | ForEach-Object { [ordered]@{ id = [int]$_.Id; at = $_.TimeCreated.ToString('s'); message = [string]$_.Message } }) } catch { }
}
$f
"""

# The agent's own event channel (Microsoft Learn, cloud sync troubleshooting: "Microsoft-
# AzureADConnect-ProvisioningAgent/Admin"). Get-WinEvent returns the newest events first and,
# with -ErrorAction Stop, throws NoMatchingEventsFound when none match (Level 2 = Error):
# https://learn.microsoft.com/powershell/module/microsoft.powershell.diagnostics/get-winevent
AGENT_EVENT_CHANNEL = "Microsoft-AzureADConnect-ProvisioningAgent/Admin"
MAX_ERROR_EVENTS = 3
MAX_ERROR_TEXT = 300  # characters of an event's message kept (redacted) for the fleet watch
_EVENT_CHANNEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,120}(/[A-Za-z]{1,20})?$")


def event_channel(name: str) -> str:
    """An event log channel name, checked before it reaches a script (letters, digits, ``-._``
    and spaces, then ``/Admin``-style type): anything else is refused, never quoted in."""
    if not isinstance(name, str) or not _EVENT_CHANNEL_RE.fullmatch(name):
        raise ValueError("not an event log channel name")
    return name


@dataclass
class AgentFacts:
    host: str
    reachable: bool
    installed: bool = False
    version: str | None = None
    service: str | None = None
    updater: str | None = None  # the Agent Updater service's status (None: not found)
    logon: str | None = None
    domains: list[str] = field(default_factory=list)
    error: str | None = None
    # the newest error events of the agent's Admin channel: {id, at, message (redacted)}
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def facts_script() -> str:
    return render(
        FACTS,
        agent_key=AGENT_KEY,
        agent_exe=AGENT_EXE,
        service=AGENT_SERVICE,
        module=AGENT_MODULE,
        updater=UPDATER_DISPLAY,
        event_channel=event_channel(AGENT_EVENT_CHANNEL),
        max_events=MAX_ERROR_EVENTS,
    )


def _error_events(value: Any) -> list[dict[str, Any]]:
    """The error events as the watch keeps them: their message redacted and shortened (an event
    text may quote anything the agent logged, so it is treated as untrusted)."""
    items = value if isinstance(value, list) else ([value] if isinstance(value, dict) else [])
    out: list[dict[str, Any]] = []
    for item in items[:MAX_ERROR_EVENTS]:
        if not isinstance(item, dict):
            continue
        message = default_redactor.redact(str(item.get("message") or ""))[:MAX_ERROR_TEXT]
        try:
            event_id = int(item.get("id") or 0)
        except (TypeError, ValueError):
            event_id = 0
        out.append({"id": event_id, "at": str(item.get("at") or "")[:40], "message": message})
    return out


def _as_list(value: Any) -> list[str]:
    """JSON from PowerShell turns a one-element array into a scalar: undo that."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _read_one(
    host: HostConfig,
    secrets: SecretsProvider,
    session_factory: Callable[..., RunbookSession],
    operation_timeout_s: int,
) -> AgentFacts:
    try:
        login = secrets.get(host.credential)
        session = session_factory(host, login, operation_timeout_s=operation_timeout_s)
        try:
            data = run_readonly(host, login, facts_script(), session=session, step_id="facts")
        finally:
            session.close()
    except Exception as exc:
        return AgentFacts(host=host.name, reachable=False, error=_why(exc, host.name))
    return AgentFacts(
        host=host.name,
        reachable=True,
        installed=bool(data.get("installed")),
        version=data.get("version"),
        service=data.get("service"),
        updater=data.get("updater") or None,
        logon=data.get("logon"),
        domains=_as_list(data.get("domains")),
        errors=_error_events(data.get("errors")),
    )


def learn_every_secret(config: Config, secrets: SecretsProvider) -> None:
    """Resolve every secret the configuration names, so the redactor masks all of them: text the
    agent wrote (its events, its traces) may quote any credential it was given, not only the
    WinRM login these reads resolve."""
    for name in config.secrets:
        try:
            secrets.get(name)
        except SecretError:  # cannot be in the agent's text through us; reported where used
            continue


def read_fleet(
    config: Config,
    secrets: SecretsProvider,
    hosts: list[str] | None = None,
    *,
    session_factory: Callable[..., RunbookSession] = RunbookSession,
    operation_timeout_s: int = 5,
    max_parallel: int = 16,
) -> list[AgentFacts]:
    """Agent facts for ``hosts`` (default: the whole inventory), read in parallel."""
    names = [h.upper() for h in hosts] if hosts else sorted(config.hosts)
    targets = [config.hosts[n] for n in names if n in config.hosts]
    missing = [
        AgentFacts(n, False, error="not in inventory") for n in names if n not in config.hosts
    ]
    if not targets:
        return missing
    learn_every_secret(config, secrets)  # the facts carry the agent's own error events
    with ThreadPoolExecutor(max(1, min(len(targets), max_parallel))) as pool:
        found = list(
            pool.map(lambda h: _read_one(h, secrets, session_factory, operation_timeout_s), targets)
        )
    return found + missing


def collect_preflight(
    config: Config,
    secrets: SecretsProvider,
    host: str,
    *,
    require_agent: bool = False,
    gmsa: str | None = None,
    session_factory: Callable[..., RunbookSession] = RunbookSession,
    operation_timeout_s: int = 5,
    stage: bool | None = None,
    creates_gmsa: bool | None = None,
) -> HostPreflight:
    """Preflight facts and verdict for one host, the entry of ``Request.preflight[host]``;
    on an unreachable host ``ok`` False with the ``error``. ``gmsa``: also read whether that
    gMSA exists (``--gmsa NAME``). ``stage`` (default: for an install, i.e. when the agent is
    not required): also check that the installer is reachable where the stage step reads it.
    ``creates_gmsa`` (default: an install without ``gmsa``): also read whether the forest has
    the KDS root key the new gMSA needs, on a server without the agent yet (with the agent,
    the gmsa step's check finds its account and skips)."""
    conf = config.host(host)
    gmsa_facts: dict[str, Any] = {}
    kds_facts: dict[str, Any] | None = None
    check_kds = (not require_agent and not gmsa) if creates_gmsa is None else creates_gmsa
    staging: list[Problem] = []
    inst = installer_for(config.tenants[conf.tenant], conf)
    check_stage = (not require_agent) if stage is None else stage
    try:
        login = secrets.get(conf.credential)
        session = session_factory(conf, login, operation_timeout_s=operation_timeout_s)
        try:
            facts = run_readonly(
                conf, login, preflight_script(), session=session, step_id="preflight"
            )
            if gmsa:
                gmsa_facts = run_readonly(
                    conf, login, gmsa_script(gmsa), session=session, step_id="gmsa-check"
                )
            if check_kds and not facts.get("agent_installed"):
                kds_facts = run_readonly(
                    conf, login, kds_script(), session=session, step_id="kds-check"
                )
            if check_stage and not facts.get("agent_installed"):
                staging = _staging_problems(inst, conf, secrets, session)
        finally:
            session.close()
    except Exception as exc:
        return HostPreflight(ok=False, error=_why(exc, conf.name))
    verdict = evaluate(facts, require_agent=require_agent)
    if gmsa:
        judge_gmsa(verdict, gmsa, gmsa_facts)
    if kds_facts is not None:
        judge_kds(verdict, kds_facts)
    if staging:
        verdict.blockers.extend(staging)
        verdict.ok = False
    return verdict.for_host(facts)


def _staging_problems(
    inst: InstallerSource, host: HostConfig, secrets: SecretsProvider, session: RunbookSession
) -> list[Problem]:
    """Is the installer reachable from where the stage step will read it (worker or host)?"""
    hop = second_hop_problem(inst, host)
    if hop is not None:  # refused before the host is asked anything about the share
        return [hop]
    problems = worker_problems(inst)
    step = host_check(inst)
    if step is None:
        return problems
    try:
        creds = {name: secrets.get(name) for name in step.credentials}
    except SecretError:  # reported as a blocker with the plan's secrets (engine._bind)
        return problems
    outcome = session.run_step(step, creds)
    if outcome.status != "done" or not isinstance(outcome.output, dict):
        problems.append(
            Problem(
                f"could not check the installer source from {host.name}: "
                f"{outcome.error or outcome.status}",
                "ask again; if it persists, check the share or URL from the server",
            )
        )
        return problems
    return problems + judge_host_check(inst, host.name, outcome.output)
