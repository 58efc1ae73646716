"""Judge the read-only preflight facts: what blocks an install, what only deserves a warning.

The fingerprint covers the facts whose change must invalidate an approval (OS, agent presence and
version, TLS 1.2, .NET, execution policy): the runner compares it with the one stored with the
approval and stops with "changed" when they differ.

Before approval, preflight also resolves every secret the plan will use (and sends none of them
anywhere) and, for ``--gmsa NAME``, reads whether that gMSA exists: a missing secret or gMSA
found only at the ``permissions`` step would leave the server half-configured.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from workers.domain.model import HostPreflight, Problem
from workers.domain.secrets import SecretError, SecretsProvider
from workers.runbook.powershell import render

MIN_DOTNET_RELEASE = 461308  # .NET Framework 4.7.1
SUPPORTED_OS = ("2016", "2019", "2022")
MIN_FREE_DISK = 1 << 30
TLS12_FIX = (
    r"set HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Client"
    r" Enabled=1 and DisabledByDefault=0; ...\TLS 1.2\Server Enabled=1 and DisabledByDefault=0;"
    r" HKLM\SOFTWARE\Microsoft\.NETFramework\v4.0.30319 SchUseStrongCrypto=1;"
    " then reboot the server"
)
# Microsoft Learn, "Prerequisites for Microsoft Entra Cloud Sync", section "TLS requirements":
# https://learn.microsoft.com/entra/identity/hybrid/cloud-sync/how-to-prerequisites#tls-requirements
TLS12_PREREQUISITE = (
    'the cloud sync prerequisites ("TLS requirements") ask for these values: ' + TLS12_FIX
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
    "system_default_tls_versions",
    "sch_use_strong_crypto_wow64",
    "system_default_tls_versions_wow64",
    "dotnet_release",
    "execution_policy",
)


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

    def for_host(self, facts: dict[str, Any]) -> HostPreflight:
        """The request's entry for this verdict and the facts it judged."""
        return HostPreflight(
            ok=self.ok,
            blockers=list(self.blockers),
            warnings=list(self.warnings),
            fingerprint=self.fingerprint,
            env_fingerprint=self.env_fingerprint,
            facts=facts,
        )


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


TLS12_SCHANNEL = (
    "tls12_client_enabled",
    "tls12_client_disabled_by_default",
    "tls12_server_enabled",
    "tls12_server_disabled_by_default",
)
TLS12_DOTNET = ("sch_use_strong_crypto", "sch_use_strong_crypto_wow64")


def tls12_state(facts: dict[str, Any]) -> str:
    """``disabled``, ``not_set`` or ``enabled``: how the registry leaves TLS 1.2.

    On Windows Server 2016-2022 TLS 1.2 is on by default and the SCHANNEL ``TLS 1.2`` keys
    usually do not exist: ``Enabled`` and ``DisabledByDefault`` only override the OS default
    (Microsoft Learn, "Transport Layer Security (TLS) registry settings",
    https://learn.microsoft.com/windows-server/security/tls/tls-registry-settings). So only an
    explicit ``Enabled=0``, a ``DisabledByDefault`` other than 0 (not negotiated unless an app
    asks) or ``SchUseStrongCrypto=0`` (64- or 32-bit .NET) turns it off. Any non-zero
    ``Enabled`` is on: tools write ``0xFFFFFFFF``, which PowerShell reads as -1. ``enabled`` means
    every value the prerequisites name is set that way; anything else is ``not_set``.
    """
    enabled = [_as_int(facts.get(k)) for k in ("tls12_client_enabled", "tls12_server_enabled")]
    by_default = [
        _as_int(facts.get(k))
        for k in ("tls12_client_disabled_by_default", "tls12_server_disabled_by_default")
    ]
    strong = [_as_int(facts.get(k)) for k in TLS12_DOTNET]
    if 0 in enabled or any(v not in (None, 0) for v in by_default) or 0 in strong:
        return "disabled"
    documented = [*enabled, *by_default, strong[0]]
    if any(v is None for v in documented):
        return "not_set"
    return "enabled"


def tls12_enabled(facts: dict[str, Any]) -> bool:
    """TLS 1.2 is usable: not explicitly disabled (the OS default counts as on)."""
    return tls12_state(facts) != "disabled"


def tls12_label(facts: dict[str, Any]) -> str:
    """The approval card's words for the TLS 1.2 case."""
    return {
        "disabled": "OFF (explicitly disabled in the registry)",
        "not_set": "on by OS default (registry values not set)",
        "enabled": "on (registry values set)",
    }[tls12_state(facts)]


def _tls12_off_values(facts: dict[str, Any]) -> list[str]:
    names = {
        "tls12_client_enabled": r"TLS 1.2\Client Enabled",
        "tls12_client_disabled_by_default": r"TLS 1.2\Client DisabledByDefault",
        "tls12_server_enabled": r"TLS 1.2\Server Enabled",
        "tls12_server_disabled_by_default": r"TLS 1.2\Server DisabledByDefault",
        "sch_use_strong_crypto": "SchUseStrongCrypto (64-bit .NET)",
        "sch_use_strong_crypto_wow64": "SchUseStrongCrypto (32-bit .NET, WOW6432Node)",
    }
    out = []
    for key, name in names.items():
        value = _as_int(facts.get(key))
        off = value == 0 if "disabled_by_default" not in key else value not in (None, 0)
        if off:
            out.append(f"{name}={value}")
    return out


def _check_tls12(facts: dict[str, Any], blockers: list[Problem], warnings: list[Problem]) -> None:
    state = tls12_state(facts)
    if state == "disabled":
        blockers.append(
            Problem(
                "TLS 1.2 is explicitly disabled (" + ", ".join(_tls12_off_values(facts)) + ")",
                TLS12_FIX,
            )
        )
    elif state == "not_set":
        unset = [k for k in (*TLS12_SCHANNEL, "sch_use_strong_crypto") if facts.get(k) is None]
        warnings.append(
            Problem(
                "TLS 1.2 registry values are not set (" + ", ".join(unset) + "): Windows Server "
                "2016-2022 enables TLS 1.2 by default",
                TLS12_PREREQUISITE,
            )
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
    _check_tls12(facts, blockers, warnings)
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


# --- secrets the plan will use -------------------------------------------------------------


def secret_problems(uses: Iterable[tuple[str, str]], secrets: SecretsProvider) -> list[Problem]:
    """A blocker per secret of ``uses`` (secret name, step id) that cannot be resolved now.

    The values are resolved and dropped (the provider registers them with the redactor); a
    problem names the secret and the step, never its reference, path or value."""
    steps: dict[str, list[str]] = {}
    for name, step in uses:
        steps.setdefault(name, [])
        if step not in steps[name]:
            steps[name].append(step)
    problems: list[Problem] = []
    for name, used_by in steps.items():
        try:
            secrets.get(name)
        except SecretError as exc:
            problems.append(
                Problem(
                    f"{exc.public} (needed by {', '.join(used_by)})",
                    f"provide the secret '{name}' where secrets.yaml points (for file: the "
                    "worker's mounted Docker secret, for env: the worker's environment, for "
                    "vault: the Vault entry), then ask again",
                )
            )
    return problems


# --- a named gMSA --------------------------------------------------------------------------

# Get-ADServiceAccount (ActiveDirectory module, RSAT-AD-PowerShell) reads the account by its SAM
# name; a missing one fails with category ObjectNotFound (ADIdentityNotFoundException):
# https://learn.microsoft.com/powershell/module/activedirectory/get-adserviceaccount
# Read-only. Without the module, or when the directory cannot be asked (over NTLM the session
# has no credential for a second hop to a domain controller), the check is only a warning.
GMSA_CHECK = r"""
$r = [ordered]@{ checked = $false; found = $false; error = $null }
if (Get-Command -Name Get-ADServiceAccount -ErrorAction SilentlyContinue) {
    $r['checked'] = $true
    try {
        $null = Get-ADServiceAccount -Identity <<gmsa>> -ErrorAction Stop
        $r['found'] = $true
    } catch {
        if ([string]$_.CategoryInfo.Category -ne 'ObjectNotFound') {
            $r['error'] = [string]$_.Exception.Message
        }
    }
}
$r
"""


def gmsa_script(gmsa: str) -> str:
    return render(GMSA_CHECK, gmsa=gmsa)


def judge_gmsa(verdict: PreflightVerdict, gmsa: str, data: dict[str, Any]) -> None:
    """Add to ``verdict`` what the gMSA read found: missing blocks, unknown warns."""
    if data.get("found") is True:
        return
    if data.get("checked") is True and not data.get("error"):
        verdict.blockers.append(
            Problem(
                f"the gMSA {gmsa} was not found in the directory",
                f"create it (New-ADServiceAccount -Name {gmsa.rstrip('$')} ...) and let this "
                "server retrieve its password (-PrincipalsAllowedToRetrieveManagedPassword), "
                "or ask again without --gmsa to let the install create the default one",
            )
        )
        verdict.ok = False
        return
    why = (
        "the ActiveDirectory PowerShell module is not installed"
        if data.get("checked") is not True
        else "the directory could not be asked"
    )
    verdict.warnings.append(
        Problem(
            f"could not check that the gMSA {gmsa} exists ({why})",
            "make sure it exists and this server may retrieve its password before approving",
        )
    )
