"""Turn a step's error text into what the operator should do next.

The patterns come from Microsoft's documented failure messages (see
shared/reference/cloud-sync-agent.md). The first matching rule wins; rules are ordered from the
most specific to the most general.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from workers.runbook.preflight import TLS12_FIX
from workers.runbook.steps import INSTALL_LOG, TRACE_DIR, Step


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    hint: Callable[[Step | None], str]


def _secret(step: Step | None) -> str:
    if step and step.credentials:
        return "secret '" + "', '".join(step.credentials) + "'"
    return "the credential used by this step"


def _rule(pattern: str, hint: Callable[[Step | None], str]) -> _Rule:
    return _Rule(re.compile(pattern, re.IGNORECASE), hint)


# Entra sign-in codes: Microsoft Learn, "Microsoft Entra authentication and authorization error
# codes" (https://learn.microsoft.com/entra/identity-platform/reference-error-codes); MSAL.NET's
# MsalUiRequiredException: "Handle errors and exceptions in MSAL.NET"
# (https://learn.microsoft.com/entra/msal/dotnet/advanced/exceptions/msal-error-handling).
_RULES: tuple[_Rule, ...] = (
    _rule(
        r"AADSTS50053|account is locked",
        lambda s: (
            f"the account of {_secret(s)} is locked (Entra smart lockout after failed sign-ins, "
            "or sign-ins from a blocked IP): check the secret holds the right password, wait for "
            "the lockout to end or have an admin unlock it, then retry this step"
        ),
    ),
    _rule(
        r"AADSTS50057|user account is disabled",
        lambda s: (
            f"the account of {_secret(s)} is disabled in Entra ID: enable it (or point the "
            "secret at an enabled account), then retry this step"
        ),
    ),
    _rule(
        r"AADSTS53003|blocked by Conditional Access",
        lambda s: (
            f"a Conditional Access policy blocks the sign-in of {_secret(s)} from this server: "
            "find the policy in the Entra sign-in logs and exclude this account or the server's "
            "network for agent registration, then retry this step"
        ),
    ),
    _rule(
        r"AADSTS5007[69]|multi-factor",
        lambda s: (
            "the Entra admin account requires MFA, which a headless WinRM session cannot do: "
            "use a Hybrid Identity Administrator account that a Conditional Access policy "
            f"exempts for this purpose ({_secret(s)}), or install with the wizard"
        ),
    ),
    _rule(
        r"MsalUiRequired",
        lambda s: (
            f"the sign-in of {_secret(s)} needs interaction (MFA, consent or a password change), "
            "which a headless WinRM session cannot give: sign in once interactively to clear "
            "it, or use an account that a Conditional Access policy exempts, then retry"
        ),
    ),
    _rule(
        r"AADSTS50126|invalid username or password",
        lambda s: f"wrong user name or password: update {_secret(s)} and retry this step",
    ),
    _rule(
        r"AADSTS50055|password (?:has )?expired|passwor\w* (?:is )?expired|data 532",
        lambda s: f"the password of {_secret(s)} has expired: reset it, update the secret, retry",
    ),
    _rule(
        r"Hybrid Identity Administrator|does not have .*role|insufficient privileges|"
        r"AADSTS50105|Authorization_RequestDenied",
        lambda s: (
            f"the account of {_secret(s)} lacks the role: give it Hybrid Identity Administrator "
            "(or Global Administrator for writeback) and retry"
        ),
    ),
    _rule(
        r"KDS|Unable to install service account",
        lambda s: (
            "the forest has no usable KDS root key (or the gMSA encryption types exclude AES): "
            "run Add-KdsRootKey -EffectiveTime ((Get-Date).AddHours(-10)) on a DC, wait for "
            "replication, then retry the gmsa step"
        ),
    ),
    _rule(
        r"could not be contacted|does not exist or could not|unreachable|RPC server is unavailable",
        lambda s: (
            "a domain controller could not be reached: check DNS and ports 389/636/88/445 from "
            "the server, or fix the preferred DC list, then retry this step"
        ),
    ),
    _rule(
        r"no such object on the server|0x80072030",
        lambda s: "the Managed Service Accounts container is missing in AD: restore it and retry",
    ),
    _rule(r"TLS 1\.2", lambda s: "enable TLS 1.2: " + TLS12_FIX),
    _rule(
        r"execution policy|Unrestricted|AuthorizationManager",
        lambda s: "set the execution policy to RemoteSigned (Set-ExecutionPolicy RemoteSigned)",
    ),
    _rule(
        r"exit 1618",
        lambda s: "another installation is running on the server: wait for it, then retry",
    ),
    _rule(
        r"exit 3010|reboot",
        lambda s: "the install finished but a reboot is pending: reboot the server when allowed",
    ),
    _rule(
        r"installer exit|exit 1603",
        lambda s: f"the installer failed: read its log {INSTALL_LOG} and the traces in {TRACE_DIR}",
    ),
    _rule(
        r"staged installer changed after the stage step verified it|staged installer .* is gone",
        lambda s: (
            "the installer was swapped after it was verified and was not run: remove it from "
            "the staging folder, find out who or what can write there, then retry (the stage "
            "step stages and verifies it again)"
        ),
    ),
    _rule(
        r"chain is not trusted on this server \((?:RevocationStatusUnknown|OfflineRevocation)",
        lambda s: (
            "the server could not check whether the installer's signing certificate is "
            "revoked: allow it outbound HTTP (port 80) to Microsoft's revocation endpoints "
            "(the agent needs them too), then retry"
        ),
    ),
    _rule(
        r"chain is not trusted on this server",
        lambda s: (
            "Windows does not trust the installer's signature chain: the staged file is not "
            "Microsoft's, or the server's root store lacks Microsoft's roots (Windows Update "
            "root certificates): check its source and the sha256 in inventory.yaml, then retry"
        ),
    ),
    _rule(
        r"not a pinned Microsoft root",
        lambda s: (
            "the installer's chain ends at a root the server trusts but Microsoft did not "
            "issue (someone added it to the server's root store): find out who; if it is your "
            "organisation's re-signing root, add its thumbprint to installer.root_thumbprints "
            "in inventory.yaml"
        ),
    ),
    _rule(
        r"SHA-256 mismatch|signature is not valid|unexpected subject|Microsoft root",
        lambda s: (
            "the staged installer is not the approved one: check its source (the worker's "
            "file, the share or the URL) and the sha256 / signer in inventory.yaml"
        ),
    ),
    _rule(
        r"timed out",
        lambda s: (
            "the step did not finish in time and was stopped: check the server (event log, "
            f"{TRACE_DIR}) and retry this step"
        ),
    ),
    _rule(
        r"not connected|Connect-AADCloudSyncAzureAD",
        lambda s: "the session is not signed in to Entra: retry from the connect step",
    ),
    _rule(
        r"was not loaded because no valid module|module .* not found|not recognized as the name",
        lambda s: (
            "the cloud sync PowerShell module is missing: is the agent installed? "
            "retry from install"
        ),
    ),
    _rule(
        r"Newtonsoft\.Json",
        lambda s: "known assembly mismatch in the agent: update the agent to the latest version",
    ),
    _rule(
        r"session lost|connection|WinRM",
        lambda s: "the WinRM connection broke: check the server is up, then retry this step",
    ),
    # proxy set / clear (workers.runbook.proxy): XmlDocument.Load/Save failed, or the file does
    # not hold the approved proxy after the edit
    _rule(
        r'Exception calling "(?:Load|Save)"|configuration does not hold what was approved',
        lambda s: (
            "the agent's configuration file could not be read or written as approved: the "
            "proxy_backup step saved a copy beside it (AADConnectProvisioningAgent.exe.config"
            ".bak-<UTC time>); repair the file or restore that copy, restart the agent, then "
            "retry"
        ),
    ),
)


def hint_for(error: str, step: Step | None = None) -> str | None:
    """What to do next for ``error`` (already redacted), or None when nothing specific applies."""
    for rule in _RULES:
        if rule.pattern.search(error):
            return rule.hint(step)
    return None
