"""The second hop: a WinRM (network) logon cannot read a file share unless this session maps it
with an explicit credential, or the host is set up for CredSSP (Microsoft Learn, "Making the
second hop in PowerShell Remoting"). Plus the two other ways in: a FileStream written from data
and an https download."""

from __future__ import annotations

import base64
from typing import Any

from simulator.host import INSTALLER_CONTENT, INSTALLER_SHA256, INSTALLER_SHARE_PATH
from simulator.pwsh.testing import run_encoded
from simulator.world import World, build_world

DEST = "C:\\Windows\\TEMP\\AADConnectProvisioningAgentSetup.exe"
SHARE_CRED = (
    "$c = New-Object System.Management.Automation.PSCredential('CONTOSO\\svc-fileshare', "
    "(ConvertTo-SecureString '{pw}' -AsPlainText -Force))"
)
MAP = (
    "New-PSDrive -Name S -PSProvider FileSystem -Root '\\\\fs01\\install' -Credential $c | Out-Null"
)


def make(**host: Any) -> World:
    return build_world({"hosts": [{"name": "SIM01", "startup_cost_s": 0, "install_s": 0, **host}]})


def run(world: World, script: str) -> list[str]:
    return run_encoded(world.hosts["SIM01"], script).stdout.splitlines()


def caught(statement: str) -> str:
    return (
        f"try {{ {statement} }} catch {{ $_.Exception.Message; "
        "[string]$_.CategoryInfo.Category; $_.Exception.GetType().FullName; "
        "$_.FullyQualifiedErrorId }"
    )


def test_copy_item_from_the_share_is_access_denied_for_a_network_logon() -> None:
    w = make()
    out = run(
        w,
        "$ErrorActionPreference = 'Stop'; "
        + caught(f"Copy-Item '{INSTALLER_SHARE_PATH}' '{DEST}'"),
    )
    assert out == [
        "Access is denied",
        "PermissionDenied",
        "System.UnauthorizedAccessException",
        "ItemExistsUnauthorizedAccessError,Microsoft.PowerShell.Commands.CopyItemCommand",
    ]
    assert w.hosts["SIM01"].file(DEST) is None


def test_every_read_of_the_share_fails_without_a_credential() -> None:
    w = make()
    out = run(
        w,
        "$ErrorActionPreference = 'Stop'\n"
        f"Test-Path '{INSTALLER_SHARE_PATH}'\n"
        f"try {{ Get-Item '{INSTALLER_SHARE_PATH}' | Out-Null; 'read' }} "
        "catch { [string]$_.CategoryInfo.Category }\n"
        f"try {{ Get-FileHash '{INSTALLER_SHARE_PATH}' | Out-Null; 'read' }} "
        "catch { [string]$_.CategoryInfo.Category }\n"
        f"try {{ Start-Process '{INSTALLER_SHARE_PATH}' -ArgumentList '/quiet' -Wait; 'ran' }} "
        "catch { $_.Exception.Message }",
    )
    assert out == [
        "False",
        "PermissionDenied",
        "PermissionDenied",
        "This command cannot be run due to the error: Access is denied.",
    ]
    assert not w.hosts["SIM01"].installed()


def test_a_share_mapped_with_a_credential_works_for_this_session_until_removed() -> None:
    w = make()
    out = run(
        w,
        "$ErrorActionPreference = 'Stop'\n"
        + SHARE_CRED.format(pw="Share-Pass-1!")
        + "\n"
        + MAP
        + "\n"
        f"Test-Path '{INSTALLER_SHARE_PATH}'\n"
        "Test-Path 'S:\\AADConnectProvisioningAgentSetup.exe'\n"
        "(Get-FileHash 'S:\\AADConnectProvisioningAgentSetup.exe').Hash\n"
        f"Copy-Item '{INSTALLER_SHARE_PATH}' '{DEST}'\n"
        "Remove-PSDrive -Name S\n"
        f"Test-Path '{INSTALLER_SHARE_PATH}'",
    )
    assert out == ["True", "True", INSTALLER_SHA256, "False"]
    host = w.hosts["SIM01"]
    copied = host.file(DEST)
    assert copied is not None and copied.content == INSTALLER_CONTENT
    events = [e["event"] for e in host.record.events]
    assert events[-2:] == ["share_mapped", "share_unmapped"]
    assert all("Share-Pass-1!" not in str(e) for e in host.record.events)
    # Another session (another WinRM logon) did not gain the mapping.
    assert run(w, f"Test-Path '{INSTALLER_SHARE_PATH}'") == ["False"]


def test_a_wrong_share_password_or_no_credential_cannot_map_the_share() -> None:
    w = make()
    wrong = run(
        w,
        "$ErrorActionPreference = 'Stop'\n" + SHARE_CRED.format(pw="nope") + "\n" + caught(MAP),
    )
    assert wrong[0] == "The user name or password is incorrect"
    bare = run(
        w,
        "$ErrorActionPreference = 'Stop'\n"
        + caught("New-PSDrive -Name S -PSProvider FileSystem -Root '\\\\fs01\\install'"),
    )
    assert "either does not exist, or it is not a folder" in bare[0]


def test_credssp_delegation_reaches_the_share_directly() -> None:
    w = make(credssp_delegation=True)
    assert run(w, f"Test-Path '{INSTALLER_SHARE_PATH}'") == ["True"]


def test_a_file_stream_written_from_data_carries_the_signature_of_its_bytes() -> None:
    w = make()
    half = len(INSTALLER_CONTENT) // 2
    a = base64.b64encode(INSTALLER_CONTENT[:half]).decode()
    b = base64.b64encode(INSTALLER_CONTENT[half:]).decode()
    out = run(
        w,
        f"$f = [System.IO.File]::Create('{DEST}')\n"
        f"$bytes = [System.Convert]::FromBase64String('{a}'); $f.Write($bytes, 0, $bytes.Length)\n"
        f"$bytes = [System.Convert]::FromBase64String('{b}'); $f.Write($bytes, 0, $bytes.Length)\n"
        "$f.Dispose()\n"
        f"(Get-FileHash '{DEST}').Hash\n"
        f"[string](Get-AuthenticodeSignature '{DEST}').Status",
    )
    assert out == [INSTALLER_SHA256, "Valid"]
    unsigned = run(
        w,
        "$f = [System.IO.File]::Create('C:\\Windows\\TEMP\\other.exe'); $f.Dispose(); "
        "[string](Get-AuthenticodeSignature 'C:\\Windows\\TEMP\\other.exe').Status",
    )
    assert unsigned == ["NotSigned"]


def test_an_https_download_needs_tls12_and_no_windows_authentication() -> None:
    url = "https://downloads.contoso.com/cloudsync/AADConnectProvisioningAgentSetup.exe"
    w = make(installer_urls=[url], windows_auth_hosts=["intranet.contoso.com"])
    out = run(
        w,
        "$ErrorActionPreference = 'Stop'\n"
        "[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12\n"
        f"Invoke-WebRequest -Uri '{url}' -OutFile '{DEST}' -UseBasicParsing\n"
        f"(Get-FileHash '{DEST}').Hash\n"
        + caught(
            "Invoke-WebRequest -Uri 'https://intranet.contoso.com/x.exe' -OutFile "
            f"'{DEST}' -UseBasicParsing"
        ),
    )
    assert out[0] == INSTALLER_SHA256
    assert out[1] == "The remote server returned an error: (401) Unauthorized."
