"""Judge the read-only preflight facts: what blocks an install, what only deserves a warning.

The fingerprint covers the facts whose change must invalidate an approval (OS, agent presence and
version, TLS 1.2, .NET, execution policy): the runner compares it with the one stored with the
approval and stops with "changed" when they differ.

Before approval, preflight also resolves every secret the plan will use (and sends none of them
anywhere) and, for ``--gmsa NAME``, reads whether that gMSA exists, or, when the install will
create the gMSA, whether the forest has a KDS root key: a missing secret, gMSA or key found only
at the ``gmsa`` or ``permissions`` step would leave the server half-configured.
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


# Get-ExecutionPolicy -List answers in precedence order (PowerShell's SecuritySupport.cs,
# ExecutionPolicyScopePreferences): the first scope that is not Undefined is the effective one.
POLICY_SCOPES = ("MachinePolicy", "UserPolicy", "Process", "CurrentUser", "LocalMachine")
GPO_PATHS = {
    "MachinePolicy": "Computer Configuration",
    "UserPolicy": "User Configuration",
}
GPO_SETTING = (
    r"Administrative Templates\Windows Components\Windows PowerShell\Turn on Script Execution"
)


def policy_source(facts: dict[str, Any]) -> str | None:
    """The scope that sets the effective execution policy, from ``execution_policies``
    (None when the list was not read or every scope is Undefined)."""
    scopes = facts.get("execution_policies")
    if not isinstance(scopes, dict):
        return None
    for scope in POLICY_SCOPES:
        if str(scopes.get(scope) or "Undefined").lower() != "undefined":
            return scope
    return None


def _gpo_fix(scope: str) -> str:
    return (
        "Set-ExecutionPolicy cannot override Group Policy: in the GPO that applies to this "
        f"server, set {GPO_PATHS[scope]}\\{GPO_SETTING} to 'Allow local scripts and remote "
        "signed scripts' (RemoteSigned) or Not Configured, then gpupdate /force and ask again"
    )


def _check_execution_policy(
    facts: dict[str, Any], blockers: list[Problem], warnings: list[Problem]
) -> None:
    """Microsoft documents RemoteSigned or Undefined; Unrestricted makes registration fail.

    When Group Policy (MachinePolicy/UserPolicy) sets the policy, the fix is the GPO, not
    Set-ExecutionPolicy (which only warns that a more specific scope overrides it). A GPO
    AllSigned or Restricted is a warning, not a blocker: the loader's scripts arrive as a
    command (-EncodedCommand) and the agent's module is a Microsoft-signed binary (.dll),
    which execution policy does not govern (about_Execution_Policies: it covers .ps1, .psm1
    and .ps1xml files); but under AllSigned a signed script or format file from a publisher
    that is not yet trusted asks a question that a remote session cannot answer
    (PSAuthorizationManager), so what the agent's own files do there is not known.
    """
    policy = str(facts.get("execution_policy") or "")
    source = policy_source(facts)
    gpo = source in GPO_PATHS
    where = f", set by Group Policy ({source})" if gpo and source else ""
    if policy.lower() == "unrestricted":
        blockers.append(
            Problem(
                f"PowerShell execution policy is Unrestricted{where} (agent registration "
                "fails with it)",
                _gpo_fix(source)
                if gpo and source
                else "Set-ExecutionPolicy RemoteSigned (or Undefined) on the server"
                + (f" -Scope {source}" if source not in (None, "LocalMachine") else ""),
            )
        )
    elif policy and policy.lower() not in ("remotesigned", "undefined"):
        if gpo and source:
            warnings.append(
                Problem(
                    f"PowerShell execution policy is {policy}{where}: our steps and the "
                    "agent's signed module load under it, but a script or format file from a "
                    "publisher this server does not trust yet would wait for a prompt",
                    "Microsoft documents RemoteSigned or Undefined for the agent; "
                    + _gpo_fix(source),
                )
            )
        else:
            warnings.append(
                Problem(
                    f"PowerShell execution policy is {policy}",
                    "Microsoft documents RemoteSigned or Undefined for the agent",
                )
            )


def _agent_present(facts: dict[str, Any]) -> Problem:
    """What an install does on a server that already has the agent (steps.py): the stage and
    install checks see the agent's registry key and skip, so nothing is upgraded; the gMSA and
    domain steps run only where their checks find them not done."""
    version = facts.get("agent_version") or "unknown version"
    return Problem(
        f"the agent is already installed ({version}): an install does not run the installer "
        "again, so it does not upgrade the agent",
        "an install skips the steps already done: stage and install, and the gMSA and domains "
        "already set. The Agent Updater service keeps the agent up to date; to install the "
        "staged version instead, uninstall the agent first",
    )


# Microsoft's cloud sync FAQ ("Can I install the cloud provisioning agent on the same server as
# Microsoft Entra Connect Sync?": yes, supported), and "Common scenarios" (both may sync the
# same domain when their scoping filters are mutually exclusive):
# https://learn.microsoft.com/entra/identity/hybrid/cloud-sync/reference-cloud-sync-faq
# https://learn.microsoft.com/entra/identity/hybrid/common-scenarios
def _check_connect_sync(facts: dict[str, Any], warnings: list[Problem]) -> None:
    status = facts.get("adsync_status")
    if not status:
        return
    warnings.append(
        Problem(
            f"Microsoft Entra Connect Sync is installed on this server (ADSync service {status})",
            "Microsoft supports the provisioning agent on the same server; make sure cloud sync "
            "and Connect Sync do not sync the same objects (mutually exclusive scoping "
            "filters), or install the agent on another server",
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
    _check_execution_policy(facts, blockers, warnings)
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
        warnings.append(_agent_present(facts))
    if not require_agent:
        _check_connect_sync(facts, warnings)
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


# --- the KDS root key a new gMSA needs ----------------------------------------------------

# Get-KdsRootKey (Kds module, Microsoft.KeyDistributionService.Cmdlets; present on domain
# controllers and with the AD DS tools) lists the forest's root keys, none when there is no key:
# https://learn.microsoft.com/powershell/module/kds/get-kdsrootkey
# Read-only. Without the cmdlet, or when it fails, the check is only a warning.
KDS_CHECK = r"""
$r = [ordered]@{ checked = $false; keys = 0; error = $null }
if (Get-Command -Name Get-KdsRootKey -ErrorAction SilentlyContinue) {
    $r['checked'] = $true
    try { $r['keys'] = @(Get-KdsRootKey -ErrorAction Stop).Count }
    catch { $r['error'] = [string]$_.Exception.Message }
}
$r
"""
# Microsoft Learn, "Create the Key Distribution Services KDS Root Key": -EffectiveTime ten hours
# back is for a lab with one domain controller; elsewhere domain controllers wait up to 10 hours
# for the key to replicate before a gMSA can be created.
KDS_FIX = (
    "as a Domain Admin on a domain controller, run Add-KdsRootKey -EffectiveTime "
    "((Get-Date).AddHours(-10)) (usable at once with a single domain controller; in production "
    "allow up to 10 h for the key to replicate to every domain controller), then ask again; or "
    "name an existing gMSA with --gmsa NAME$. If a key exists, this server's WinRM account may "
    "not be allowed to read it: Get-KdsRootKey as a Domain Admin shows it"
)


def kds_script() -> str:
    return KDS_CHECK.strip()


def judge_kds(verdict: PreflightVerdict, data: dict[str, Any]) -> None:
    """Add to ``verdict`` what the KDS read found: no key blocks, unknown warns."""
    keys = _as_int(data.get("keys")) or 0
    if keys > 0:
        return
    if data.get("checked") is True and not data.get("error"):
        verdict.blockers.append(
            Problem(
                "no KDS root key was found in the forest: the install creates the agent's gMSA, "
                "and Active Directory cannot create a gMSA without one",
                KDS_FIX,
            )
        )
        verdict.ok = False
        return
    why = (
        "Get-KdsRootKey is not available on this server: the Kds PowerShell module is on "
        "domain controllers and where the AD DS tools (RSAT) are installed"
        if data.get("checked") is not True
        else "Get-KdsRootKey failed: " + str(data.get("error"))[:200]
    )
    verdict.warnings.append(
        Problem(
            f"could not check that the forest has a KDS root key ({why})",
            "make sure one exists (Get-KdsRootKey on a domain controller) before approving: "
            "the install creates the agent's gMSA, which needs it",
        )
    )
