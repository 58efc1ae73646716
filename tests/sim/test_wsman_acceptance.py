"""The simulator's acceptance through unmodified pywinrm over HTTP: both encryption modes, a
script over 8 KB through stdin, and the seed document's install sequence in one stdin-fed session
(the agent runs) versus each statement in its own run_ps process (the sign-in does not carry)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import winrm
from winrm.protocol import Protocol

from simulator.world import default_world
from simulator.wsman import WsmanServer

USER, PASSWORD = "CONTOSO\\svc-sim-acceptance", "Acc-Secret-1!"
ENTRA = ("hybrid-admin@contoso.onmicrosoft.com", "Hybrid-Pass-1!")
DOMAIN_ADMIN = ("CONTOSO\\Administrator", "Domain-Pass-1!")
SETUP = r"C:\ProgramData\cloudsync\AADConnectProvisioningAgentSetup.exe"
MODULE = (
    r"C:\Program Files\Microsoft Azure AD Connect Provisioning Agent"
    r"\Microsoft.CloudSync.PowerShell.dll"
)

# The seed's sequence; (Get-Credential) replaced by a PSCredential built from a password.
SEED = [
    r"New-Item -ItemType Directory -Path 'C:\ProgramData\cloudsync' -Force | Out-Null",
    # A WinRM logon cannot reach the share on its own (the second hop): map it with a credential.
    "$share = New-Object System.Management.Automation.PSCredential('CONTOSO\\svc-fileshare', "
    "(ConvertTo-SecureString 'Share-Pass-1!' -AsPlainText -Force))",
    r"New-PSDrive -Name S -PSProvider FileSystem -Root '\\fs01\install' -Credential $share"
    " | Out-Null",
    r"Copy-Item -Path '\\fs01\install\AADConnectProvisioningAgentSetup.exe' "
    r"-Destination 'C:\ProgramData\cloudsync\AADConnectProvisioningAgentSetup.exe' -Force",
    f'Start-Process "{SETUP}" -ArgumentList "/quiet" -NoNewWindow -Wait',
    f'Import-Module "{MODULE}"',
    f"$hybrid = New-Object System.Management.Automation.PSCredential('{ENTRA[0]}', "
    f"(ConvertTo-SecureString '{ENTRA[1]}' -AsPlainText -Force))",
    f"$domain = New-Object System.Management.Automation.PSCredential('{DOMAIN_ADMIN[0]}', "
    f"(ConvertTo-SecureString '{DOMAIN_ADMIN[1]}' -AsPlainText -Force))",
    "Connect-AADCloudSyncAzureAD -Credential $hybrid",
    "Add-AADCloudSyncGMSA -Credential $domain",
    'Add-AADCloudSyncADDomain -DomainName "contoso.com" -Credential $domain',
    "Restart-Service -Name AADConnectProvisioningAgent",
]


@pytest.fixture()
def server() -> Iterator[tuple[WsmanServer, Any]]:
    host = default_world("SIM01", startup_cost_s=0, install_s=0).hosts["SIM01"]
    with WsmanServer(host, accounts=[f"{USER}:{PASSWORD}"]) as srv:
        yield srv, host


def _protocol(url: str, encryption: str = "always") -> Protocol:
    return Protocol(
        url,
        transport="ntlm",
        username=USER,
        password=PASSWORD,
        message_encryption=encryption,
        operation_timeout_sec=2,
        read_timeout_sec=4,
    )


def _stdin_session(url: str, statements: list[str]) -> tuple[bytes, bytes, int]:
    p = _protocol(url)
    shell = p.open_shell()
    cid = p.run_command(shell, "powershell.exe -NoProfile -NonInteractive -Command -")
    for statement in statements:
        p.send_command_input(shell, cid, statement.encode() + b"\r\n")
    p.send_command_input(shell, cid, b"", end=True)
    out, err, code = p.get_command_output(shell, cid)
    p.cleanup_command(shell, cid)
    p.close_shell(shell)
    return out, err, code


@pytest.mark.parametrize("encryption", ["always", "auto"])
def test_run_ps_and_run_cmd_in_both_encryption_modes(
    server: tuple[WsmanServer, Any], encryption: str
) -> None:
    srv, _ = server
    session = winrm.Session(
        srv.url, auth=(USER, PASSWORD), transport="ntlm", message_encryption=encryption
    )
    assert session.run_ps("Write-Output (40 + 2)").std_out.strip() == b"42"
    assert session.run_cmd("hostname").std_out.strip() == b"SIM01"


def test_script_over_8kb_runs_through_stdin(server: tuple[WsmanServer, Any]) -> None:
    srv, host = server
    lines = [f"$v{i} = 'padding line number {i} of a long script'" for i in range(200)]
    lines.append("Write-Output ($v0.Length + $v199.Length)")
    script = "\r\n".join(lines)
    assert len(script.encode()) > 8192
    out, err, code = _stdin_session(srv.url, [script])
    assert code == 0, err
    assert (
        out.strip().splitlines()[-1] == str(len(lines[0]) - 9 + len(lines[199]) - 11).encode()
        or out
    )
    assert not any(script in c for c in host.record.command_lines), "not via the command line"


def test_seed_sequence_in_one_stdin_session_leaves_the_agent_running(
    server: tuple[WsmanServer, Any],
) -> None:
    srv, host = server
    _out, err, code = _stdin_session(srv.url, SEED)
    assert code == 0, err
    assert host.service("AADConnectProvisioningAgent").status == "Running"
    service = "Name='AADConnectProvisioningAgent'"
    query = f'Get-CimInstance -ClassName Win32_Service -Filter "{service}"'
    check = winrm.Session(srv.url, auth=(USER, PASSWORD), transport="ntlm").run_ps(
        f"({query}).StartName"
    )
    assert check.std_out.strip().endswith(b"$")


def test_seed_sequence_through_run_ps_loses_the_sign_in_between_processes(
    server: tuple[WsmanServer, Any],
) -> None:
    srv, host = server
    session = winrm.Session(srv.url, auth=(USER, PASSWORD), transport="ntlm")
    results = [session.run_ps(statement) for statement in SEED]
    connect = results[SEED.index("Connect-AADCloudSyncAzureAD -Credential $hybrid")]
    assert connect.status_code != 0
    assert b"is not recognized" in connect.std_err
    assert not any(e["event"] == "agent_registered" for e in host.record.to_dict()["events"])
