# ruff: noqa: E501  (PowerShell templates keep one statement a line)
"""Preflight for staging: is the installer reachable from where the stage step will read it?

Push reads it on the worker, share and url on the host. A WinRM sign-in is a network logon that
holds no credential it could present to a third machine (Microsoft Learn, "Making the second hop
in PowerShell Remoting"), so a share without a share credential, or an intranet URL that wants
Windows authentication, fails on a real server whatever the simulator would let through: these
are blocked here, before approval, with the reason and the fix. Nothing here changes the host
(the share is mapped for the check's session only and removed again).
"""

from __future__ import annotations

from typing import Any

from workers.domain.config import HostConfig, InstallerSource
from workers.domain.model import Problem
from workers.runbook.powershell import render
from workers.runbook.session import file_sha256
from workers.runbook.steps import STAGE_DRIVE, Step, share_root

SECOND_HOP_FIX = (
    "use push staging (the default: the worker streams the installer over WinRM; set "
    "installer.path to the file on the worker), or add share_credential: <secret> (an account "
    "that may read the share) to the tenant's installer entry, or use transport: credssp"
)

SHARE_CHECK = r"""
$r = [ordered]@{ reachable = $false; sha256 = $null; error = $null }
try {
    New-PSDrive -Name <<drive>> -PSProvider FileSystem -Root <<root>> -Credential $Secrets[<<secret>>] | Out-Null
    try {
        if (Test-Path -Path <<source>>) { $r['reachable'] = $true; $r['sha256'] = [string](Get-FileHash -Path <<source>> -Algorithm SHA256).Hash }
        else { $r['error'] = 'the file is not on the share' }
    } finally { Remove-PSDrive -Name <<drive>> -Force }
} catch { $r['error'] = [string]$_.Exception.Message }
$r
"""

URL_CHECK = r"""
$r = [ordered]@{ reachable = $false; status = $null; error = $null }
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12
try { $resp = Invoke-WebRequest -Uri <<url>> -Method Head -UseBasicParsing; $r['reachable'] = $true; $r['status'] = [int]$resp.StatusCode } catch { $r['error'] = [string]$_.Exception.Message }
$r
"""


def second_hop_problem(inst: InstallerSource, host: HostConfig) -> Problem | None:
    """Share staging with no share credential, over a login that cannot be delegated."""
    if inst.source != "share" or inst.share_credential or not inst.share_path:
        return None
    if not inst.share_path.startswith("\\\\") or host.transport == "credssp":
        return None
    return Problem(
        f"share staging from {inst.share_path} has no share_credential: the WinRM sign-in "
        f"to {host.name} is a network logon that holds no credential it could pass on to the "
        "file server (the second hop), so the server would be refused (Access is denied)",
        SECOND_HOP_FIX,
    )


def worker_problems(inst: InstallerSource) -> list[Problem]:
    """Push: the worker's file exists, can be read and has the pinned SHA-256."""
    if inst.source != "push" or not inst.path:
        return []
    try:
        digest = file_sha256(inst.path)
    except FileNotFoundError:
        return [
            Problem(
                f"the installer {inst.path} is not on the worker (push staging reads it there)",
                "put AADConnectProvisioningAgentSetup.exe there (e.g. mount the volume that "
                "holds it) or correct installer.path in inventory.yaml",
            )
        ]
    except OSError as exc:
        return [
            Problem(
                f"the worker cannot read the installer {inst.path}: {exc.strerror or exc}",
                "let the worker's user read the file (permissions, volume mount)",
            )
        ]
    if digest != inst.sha256.upper():
        return [
            Problem(
                f"the installer {inst.path} on the worker has SHA-256 {digest}, not the pinned "
                f"{inst.sha256.upper()}",
                "download the installer again from the Entra admin center and pin its "
                "Get-FileHash value as installer.sha256",
            )
        ]
    return []


def host_check(inst: InstallerSource) -> Step | None:
    """The read-only script that tries the source from the host (share or url), or None."""
    if inst.source == "share" and inst.share_credential and inst.share_path:
        if not inst.share_path.startswith("\\\\"):
            return None
        script = render(
            SHARE_CHECK,
            drive=STAGE_DRIVE,
            root=share_root(inst.share_path),
            secret=inst.share_credential,
            source=inst.share_path,
        )
        return Step(
            "staging-check",
            "installer share check",
            script,
            credentials=(inst.share_credential,),
            kind="read",
            timeout_s=300,
        )
    if inst.source == "url" and inst.url:
        return Step(
            "staging-check",
            "installer URL check",
            render(URL_CHECK, url=inst.url),
            kind="read",
            timeout_s=120,
        )
    return None


def judge_host_check(inst: InstallerSource, host: str, data: dict[str, Any]) -> list[Problem]:
    """Blockers from what the host found when it tried the share or the URL."""
    error = str(data.get("error") or "")
    if inst.source == "share":
        if not data.get("reachable"):
            return [
                Problem(
                    f"{host} cannot read {inst.share_path} with the share credential "
                    f"'{inst.share_credential}': {error or 'not reachable'}",
                    "check that account's password and its read permission on the share, "
                    "and that the file is there",
                )
            ]
        found = str(data.get("sha256") or "").upper()
        if found != inst.sha256.upper():
            return [
                Problem(
                    f"the installer on the share has SHA-256 {found or 'unknown'}, not the "
                    f"pinned {inst.sha256.upper()}",
                    "put the approved installer on the share or pin its Get-FileHash value",
                )
            ]
        return []
    if inst.source == "url" and not data.get("reachable"):
        if "401" in error or "unauthorized" in error.lower():
            return [
                Problem(
                    f"{inst.url} asks {host} for Windows authentication, which the WinRM "
                    "sign-in cannot give (a network logon has no credential to pass on: the "
                    "second hop)",
                    "serve the installer without authentication over https, or use push staging",
                )
            ]
        return [
            Problem(
                f"{host} cannot download {inst.url}: {error or 'no answer'}",
                "check the URL, the server's outbound https (proxy, firewall) and TLS 1.2",
            )
        ]
    return []
