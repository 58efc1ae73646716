"""Each failure mode the runbook must recognise, as the modelled host produces it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from simulator.host import AGENT_SERVICE
from simulator.pwsh.testing import (
    clean_clixml,
    collect,
    encode_command,
    run_encoded,
    run_stdin,
)
from simulator.world import World, build_world, default_world
from tests.support import eventually

IMPORT = "Import-Module 'C:\\Program Files\\Microsoft Azure AD Connect Provisioning Agent\\Microsoft.CloudSync.PowerShell.dll'"  # noqa: E501
INSTALL = "$p = Start-Process '\\\\fs01\\install\\AADConnectProvisioningAgentSetup.exe' -ArgumentList '/quiet' -Wait -PassThru -NoNewWindow; $p.ExitCode"  # noqa: E501


def cred(user: str, password: str) -> str:
    return f"(New-Object PSCredential('{user}', (ConvertTo-SecureString '{password}' -AsPlainText -Force)))"  # noqa: E501


HYBRID = cred("hybrid-admin@contoso.onmicrosoft.com", "Hybrid-Pass-1!")
DOMAIN = cred("CONTOSO\\Administrator", "Domain-Pass-1!")


def make(**host: Any) -> World:
    """A host set up for CredSSP: these scripts read the installer straight from the share."""
    tenant = host.pop("tenant", None)
    host.setdefault("credssp_delegation", True)
    return build_world(
        {
            "tenant": tenant,
            "hosts": [{"name": "SIM01", "startup_cost_s": 0, "install_s": 0, **host}],
        }
    )


def installed(**host: Any) -> World:
    return make(agent_installed={"agent_version": "1.1.2334.0"}, **host)


def catch(statement: str) -> str:
    return f"try {{ {statement} }} catch {{ $_.Exception.Message }}"


def session(world: World, *statements: str) -> str:
    r = run_stdin(world.hosts["SIM01"], list(statements))
    return r.stdout + clean_clixml(r.stderr)


def test_mfa_account() -> None:
    text = session(
        installed(),
        IMPORT,
        catch(
            f"Connect-AADCloudSyncAzureAD -Credential {cred('mfa-admin@contoso.onmicrosoft.com', 'Mfa-Pass-1!')}"  # noqa: E501
        ),
    )
    assert (
        "AADSTS50076: Due to a configuration change made by your administrator, or because you "
        "moved to a new location, you must use multi-factor authentication to access" in text
    )


def test_mfa_for_scenario_key() -> None:
    w = make(agent_installed=True, mfa_for=["hybrid-admin@contoso.onmicrosoft.com"])
    assert "AADSTS50076" in session(
        w, IMPORT, catch(f"Connect-AADCloudSyncAzureAD -Credential {HYBRID}")
    )


def test_wrong_password() -> None:
    text = session(
        installed(),
        IMPORT,
        catch(
            f"Connect-AADCloudSyncAzureAD -Credential {cred('hybrid-admin@contoso.onmicrosoft.com', 'nope')}"  # noqa: E501
        ),
    )
    assert "AADSTS50126: Error validating credentials due to invalid username or password." in text
    assert "nope" not in text.replace("'nope'", "")


def test_missing_role() -> None:
    text = session(
        installed(),
        IMPORT,
        catch(
            f"Connect-AADCloudSyncAzureAD -Credential {cred('reader@contoso.onmicrosoft.com', 'Reader-Pass-1!')}"  # noqa: E501
        ),
    )
    assert "does not have the Hybrid Identity Administrator role" in text


def test_cmdlet_needs_prior_connect() -> None:
    text = session(installed(), IMPORT, catch(f"Add-AADCloudSyncGMSA -Credential {DOMAIN}"))
    assert "Not connected" in text and "run Connect-AADCloudSyncAzureAD" in text


def test_no_kds_root_key() -> None:
    tenant = {
        "domains": {
            "contoso.com": {
                "admins": {"CONTOSO\\Administrator": {"password": "Domain-Pass-1!"}},
                "kds_root_key": False,
            }
        }
    }
    w = installed(tenant=tenant)
    text = session(
        w,
        IMPORT,
        f"Connect-AADCloudSyncAzureAD -Credential {HYBRID}",
        catch(f"Add-AADCloudSyncGMSA -Credential {DOMAIN}"),
        "@(Get-KdsRootKey).Count",
    )
    assert "Unable to create gMSA because KDS may not be running on domain controller" in text
    assert text.rstrip().endswith("0")


def test_custom_gmsa_reused() -> None:
    tenant = {
        "domains": {
            "contoso.com": {
                "admins": {"CONTOSO\\Administrator": {"password": "Domain-Pass-1!"}},
                "gmsas": ["svc-sync$"],
            }
        }
    }
    w = installed(tenant=tenant)
    session(
        w,
        IMPORT,
        f"Connect-AADCloudSyncAzureAD -Credential {HYBRID}",
        "Add-AADCloudSyncGMSA -CustomGMSAName 'svc-sync$'",
    )
    svc = w.hosts["SIM01"].service(AGENT_SERVICE)
    assert svc is not None and svc.start_name == "CONTOSO\\svc-sync$"


def test_unreachable_preferred_dc() -> None:
    tenant = {
        "domains": {
            "contoso.com": {
                "admins": {"CONTOSO\\Administrator": {"password": "Domain-Pass-1!"}},
                "dcs": ["dc1.contoso.com", "dc9.contoso.com"],
                "unreachable_dcs": ["dc9.contoso.com"],
            }
        }
    }
    text = session(
        installed(tenant=tenant),
        IMPORT,
        f"Connect-AADCloudSyncAzureAD -Credential {HYBRID}",
        catch(
            f"Add-AADCloudSyncADDomain -DomainName contoso.com -Credential {DOMAIN} -PreferredDomainControllers 'dc1.contoso.com','dc9.contoso.com'"  # noqa: E501
        ),
    )
    assert "The specified domain either does not exist or could not be contacted." in text
    assert "dc9.contoso.com" in text


def test_expired_domain_admin_password() -> None:
    tenant = {
        "domains": {
            "contoso.com": {
                "admins": {
                    "CONTOSO\\Administrator": {"password": "Domain-Pass-1!", "expired": True}
                }
            }
        }
    }
    text = session(
        installed(tenant=tenant),
        IMPORT,
        f"Connect-AADCloudSyncAzureAD -Credential {HYBRID}",
        catch(f"Add-AADCloudSyncADDomain -DomainName contoso.com -Credential {DOMAIN}"),
    )
    assert "The user's password has expired." in text


def test_import_module_before_install() -> None:
    r = run_encoded(make().hosts["SIM01"], IMPORT)
    assert (
        "The specified module 'C:\\Program Files\\Microsoft Azure AD Connect Provisioning Agent\\"
        "Microsoft.CloudSync.PowerShell.dll' was not loaded because no valid module file was "
        "found in any module directory." in clean_clixml(r.stderr)
    )


def test_get_credential_non_interactive() -> None:
    w = make()
    r = run_stdin(
        w.hosts["SIM01"],
        ["Connect-AADCloudSyncAzureAD -Credential (Get-Credential)", "Get-Credential"],
    )
    assert (
        "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available."
        in clean_clixml(r.stderr)
    )


@pytest.mark.parametrize(("code", "installs"), [(1603, False), (3010, True), (0, True)])
def test_installer_exit_codes(code: int, installs: bool) -> None:
    w = make(installer_exit_codes=[code])
    host = w.hosts["SIM01"]
    r = run_encoded(host, INSTALL)
    assert r.stdout == f"{code}\r\n"
    assert host.installed() is installs
    assert any(e["event"] == "installer_run" and e["exit_code"] == code for e in host.record.events)


def test_installer_exit_codes_consumed_in_order() -> None:
    host = make(installer_exit_codes=[1618, 0]).hosts["SIM01"]
    assert run_encoded(host, INSTALL).stdout == "1618\r\n"
    assert run_encoded(host, INSTALL).stdout == "0\r\n"


def test_installer_mutex_gives_1618() -> None:
    host = make(install_s=0.3).hosts["SIM01"]
    first = host.start_process("powershell.exe", ["-EncodedCommand", encode_command(INSTALL)])
    eventually(lambda: host.installer_running, what="the first installer to start")
    second = run_encoded(
        host, INSTALL + "; (Get-Process -Name AADConnectProvisioningAgentSetup).Count"
    )
    assert second.stdout.splitlines() == ["1618", "1"]
    assert collect(first).stdout == "0\r\n"


def test_tls12_off_visible_in_registry() -> None:
    script = (
        "$k = 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2\\Client'; "  # noqa: E501
        "(Get-ItemProperty -Path $k -Name Enabled).Enabled; "
        "(Get-ItemProperty 'Registry::HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319' -ErrorAction SilentlyContinue).SchUseStrongCrypto -eq 1"  # noqa: E501
    )
    # the keys exist only when set (tls12: enabled); the default host has none of them
    assert run_encoded(make(tls12=True).hosts["SIM01"], script).stdout == "1\r\nTrue\r\n"
    assert run_encoded(make(tls12=False).hosts["SIM01"], script).stdout == "0\r\nFalse\r\n"


def test_missing_registry_path_message() -> None:
    r = run_encoded(
        make().hosts["SIM01"], catch("Get-ItemProperty 'HKLM:\\SOFTWARE\\Nope' -ErrorAction Stop")
    )
    assert r.stdout == "Cannot find path 'HKLM:\\SOFTWARE\\Nope' because it does not exist.\r\n"


def test_prerequisite_facts() -> None:
    host = make(
        os_caption="Microsoft Windows Server 2019 Standard",
        os_version="10.0.17763",
        dotnet_release=461808,
        execution_policy="Unrestricted",
    ).hosts["SIM01"]
    r = run_encoded(
        host,
        "$os = Get-CimInstance -ClassName Win32_OperatingSystem; $os.Caption; $os.BuildNumber; "
        "(Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full').Release; "  # noqa: E501
        "Get-ExecutionPolicy; (Get-Service VaultSvc).StartType; "
        "(Get-AuthenticodeSignature '\\\\fs01\\install\\AADConnectProvisioningAgentSetup.exe').Status; "  # noqa: E501
        "(Get-AuthenticodeSignature '\\\\fs01\\install\\AADConnectProvisioningAgentSetup.exe').SignerCertificate.Subject; "  # noqa: E501
        "(Get-PSDrive C).Free -gt 1gb",
    )
    assert r.stdout.splitlines() == [
        "Microsoft Windows Server 2019 Standard",
        "17763",
        "461808",
        "Unrestricted",
        "Manual",
        "Valid",
        "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US",
        "True",
    ]


def test_simultaneous_registration_quarantines_the_later_host() -> None:
    w = build_world(
        {
            "hosts": [
                {"name": "SIM01", "startup_cost_s": 0, "agent_installed": True},
                {"name": "SIM02", "startup_cost_s": 0, "agent_installed": True},
            ]
        }
    )
    gate = threading.Event()
    first = w.hosts["SIM01"].start_process(
        "powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", "-"]
    )
    first.feed_stdin(
        f"{IMPORT}\r\nConnect-AADCloudSyncAzureAD -Credential {HYBRID}\r\n'connected'\r\n".encode(),
        False,
    )
    seen: list[bytes] = []

    def signed_in() -> bool:
        seen.append(first.read_output(0.2).stdout)
        return b"connected" in b"".join(seen)

    eventually(signed_in, interval=0, what="the first session to sign in to Entra")
    gate.set()
    text = session_on(
        w,
        "SIM02",
        IMPORT,
        f"Connect-AADCloudSyncAzureAD -Credential {HYBRID}",
        catch(f"Add-AADCloudSyncGMSA -Credential {DOMAIN}"),
    )
    assert "quarantine" in text and "SIM01" in text
    first.feed_stdin(
        f"Add-AADCloudSyncGMSA -Credential {DOMAIN}\r\nRestart-Service AADConnectProvisioningAgent\r\n".encode(),  # noqa: E501
        True,
    )
    assert collect(first).stderr == ""
    assert w.tenant.windows_overlapped()
    assert any(e["event"] == "registration_overlap" for e in w.hosts["SIM02"].record.events)


def test_one_after_another_never_overlaps() -> None:
    w = build_world(
        {
            "hosts": [
                {"name": n, "startup_cost_s": 0, "agent_installed": True}
                for n in ("SIM01", "SIM02")
            ]
        }
    )
    for name in ("SIM01", "SIM02"):
        text = session_on(
            w,
            name,
            IMPORT,
            f"Connect-AADCloudSyncAzureAD -Credential {HYBRID}",
            f"Add-AADCloudSyncGMSA -Credential {DOMAIN}",
            "Restart-Service AADConnectProvisioningAgent",
        )
        assert text == ""
    assert not w.tenant.windows_overlapped()
    assert [a["machine"] for a in w.tenant.agents] == ["SIM01", "SIM02"]
    assert sum(e["event"] == "gmsa_created" for h in w.hosts.values() for e in h.record.events) == 1


def session_on(w: World, name: str, *statements: str) -> str:
    r = run_stdin(w.hosts[name], list(statements))
    return r.stdout + clean_clixml(r.stderr)


def test_default_world_and_scenario_keys() -> None:
    w = default_world("HOSTX", startup_cost_s=0, listen="127.0.0.1:0")
    assert list(w.hosts) == ["HOSTX"]
    assert w.hosts["HOSTX"].startup_cost_s == 0


def test_preinstalled_agent_scenario() -> None:
    w = make(
        agent_installed={
            "agent_version": "1.1.2000.0",
            "domains": ["contoso.com"],
            "gmsa": "CONTOSO\\provAgentgMSA$",
        }
    )
    r = run_stdin(
        w.hosts["SIM01"],
        [
            IMPORT,
            "(Get-AADCloudSyncDomains).DomainName",
            "(Get-Item 'C:\\Program Files\\Microsoft Azure AD Connect Provisioning Agent\\AADConnectProvisioningAgent.exe').VersionInfo.ProductVersion",  # noqa: E501
        ],
    )
    assert r.stdout.splitlines() == ["contoso.com", "1.1.2000.0"]
    svc = w.hosts["SIM01"].service(AGENT_SERVICE)
    assert svc is not None and svc.start_name == "CONTOSO\\provAgentgMSA$"


def test_faults_from_scenario_dict() -> None:
    w = make(faults=[{"kind": "fail", "cmdlet": "Restart-Service", "message": "service busy"}])
    r = run_encoded(w.hosts["SIM01"], catch("Restart-Service WinRM"))
    assert r.stdout == "service busy\r\n"
