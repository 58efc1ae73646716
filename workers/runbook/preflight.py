"""Judge the read-only preflight facts: what blocks an install, what only deserves a warning.

The fingerprint covers the facts whose change must invalidate an approval (OS, agent presence and
version, TLS 1.2, .NET, execution policy): the runner compares it with the one stored with the
approval and stops with "changed" when they differ.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

MIN_DOTNET_RELEASE = 461308  # .NET Framework 4.7.1
SUPPORTED_OS = ("2016", "2019", "2022")
MIN_FREE_DISK = 1 << 30
TLS12_FIX = (
    r"set HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Client"
    r" Enabled=1 and DisabledByDefault=0; ...\TLS 1.2\Server Enabled=1 and DisabledByDefault=0;"
    r" HKLM\SOFTWARE\Microsoft\.NETFramework\v4.0.30319 SchUseStrongCrypto=1;"
    " then reboot the server"
)
FINGERPRINT_KEYS = (
    "os_caption",
    "os_version",
    "installation_type",
    "agent_installed",
    "agent_version",
    "tls12_client_enabled",
    "tls12_client_disabled_by_default",
    "tls12_server_enabled",
    "tls12_server_disabled_by_default",
    "sch_use_strong_crypto",
    "dotnet_release",
    "execution_policy",
)


@dataclass(frozen=True)
class Problem:
    what: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "fix": self.fix}


@dataclass
class PreflightVerdict:
    ok: bool
    blockers: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    fingerprint: str = ""
    env_fingerprint: str = ""  # the same without the agent's own facts (see runner resume)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "blockers": [p.to_dict() for p in self.blockers],
            "warnings": [p.to_dict() for p in self.warnings],
            "fingerprint": self.fingerprint,
            "env_fingerprint": self.env_fingerprint,
        }


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


AGENT_KEYS = ("agent_installed", "agent_version")


def fingerprint(facts: dict[str, Any], *, include_agent: bool = True) -> str:
    """sha256 over the approval-relevant facts. ``include_agent=False`` leaves out the agent's
    presence and version: a resumed run compares that one, since its own earlier attempt may
    have installed the agent."""
    keys = [k for k in FINGERPRINT_KEYS if include_agent or k not in AGENT_KEYS]
    subset = {key: facts.get(key) for key in keys}
    canonical = json.dumps(subset, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def tls12_enabled(facts: dict[str, Any]) -> bool:
    return (
        _as_int(facts.get("tls12_client_enabled")) == 1
        and _as_int(facts.get("tls12_client_disabled_by_default")) == 0
        and _as_int(facts.get("tls12_server_enabled")) == 1
        and _as_int(facts.get("tls12_server_disabled_by_default")) == 0
        and _as_int(facts.get("sch_use_strong_crypto")) == 1
    )


def _check_os(facts: dict[str, Any], blockers: list[Problem]) -> None:
    caption = str(facts.get("os_caption") or "")
    match = re.search(r"Windows Server (\d{4})", caption)
    if not match or match.group(1) not in SUPPORTED_OS:
        blockers.append(
            Problem(
                f"operating system '{caption or 'unknown'}' is not supported",
                "use Windows Server 2016, 2019 or 2022 (2022 recommended)",
            )
        )
    if str(facts.get("installation_type") or "").strip().lower() == "server core":
        blockers.append(
            Problem(
                "the server is a Server Core installation",
                "the agent needs Windows Server with Desktop Experience",
            )
        )


def evaluate(facts: dict[str, Any], *, require_agent: bool = False) -> PreflightVerdict:
    """Blockers and warnings for ``facts`` (the output of the preflight step).

    ``require_agent``: for changes to an existing agent (domain add, writeback, ...), a missing
    agent is a blocker; for an install, a present agent is only a note that steps will skip.
    """
    blockers: list[Problem] = []
    warnings: list[Problem] = []
    _check_os(facts, blockers)
    if not tls12_enabled(facts):
        blockers.append(Problem("TLS 1.2 is not enabled", TLS12_FIX))
    release = _as_int(facts.get("dotnet_release"))
    if release is None or release < MIN_DOTNET_RELEASE:
        blockers.append(
            Problem(
                f".NET Framework release {release if release is not None else 'not found'} "
                f"is older than 4.7.1 ({MIN_DOTNET_RELEASE})",
                "install .NET Framework 4.7.1 or later (4.8 recommended)",
            )
        )
    policy = str(facts.get("execution_policy") or "")
    if policy.lower() == "unrestricted":
        blockers.append(
            Problem(
                "PowerShell execution policy is Unrestricted (agent registration fails with it)",
                "Set-ExecutionPolicy RemoteSigned (or Undefined) on the server",
            )
        )
    elif policy and policy.lower() not in ("remotesigned", "undefined"):
        warnings.append(
            Problem(
                f"PowerShell execution policy is {policy}",
                "Microsoft documents RemoteSigned or Undefined for the agent",
            )
        )
    vault = str(facts.get("vaultsvc_start_type") or "")
    if vault.lower() == "disabled":
        blockers.append(
            Problem(
                "the Credential Manager service (VaultSvc) is disabled",
                "set VaultSvc's start type to Manual",
            )
        )
    free = _as_int(facts.get("free_disk_bytes"))
    if free is not None and free < MIN_FREE_DISK:
        warnings.append(Problem(f"only {free // (1 << 20)} MB free on C:", "free some space"))
    installed = bool(facts.get("agent_installed"))
    if require_agent and not installed:
        blockers.append(
            Problem("the provisioning agent is not installed", "install it first (install)")
        )
    elif installed and not require_agent:
        version = facts.get("agent_version") or "unknown version"
        warnings.append(
            Problem(
                f"the agent is already installed ({version})",
                "steps already done will be skipped",
            )
        )
    return PreflightVerdict(
        ok=not blockers,
        blockers=blockers,
        warnings=warnings,
        fingerprint=fingerprint(facts),
        env_fingerprint=fingerprint(facts, include_agent=False),
    )
