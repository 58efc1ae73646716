"""The seed document's install sequence against the modelled host, and the runbook bootstrap."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from simulator.host import (
    AGENT_SERVICE,
    INSTALLER_CONTENT,
    INSTALLER_SHA256,
    INSTALLER_SHARE_PATH,
    SimHost,
)
from simulator.pwsh.testing import (
    clean_clixml,
    collect,
    encode_command,
    run_encoded,
    run_stdin,
)
from simulator.world import World, build_world
from workers.domain.secrets import Credential
from workers.runbook.session import secret_frame

SEED = Path(__file__).resolve().parents[1] / "data" / "how-to-install-pshell.blocks.md"
BOOTSTRAP = Path(__file__).resolve().parents[2] / "workers" / "runbook" / "bootstrap.ps1"
HYBRID = ("hybrid-admin@contoso.onmicrosoft.com", "Hybrid-Pass-1!")
DOMAIN = ("CONTOSO\\Administrator", "Domain-Pass-1!")
GLOBAL = ("global-admin@contoso.onmicrosoft.com", "Global-Pass-1!")


def world(**host: object) -> World:
    """A host set up for CredSSP: the seed runs the installer straight from the share."""
    host.setdefault("credssp_delegation", True)
    return build_world(
        {
            "tenant": {
                "domains": {
                    "contoso.com": {
                        "netbios": "CONTOSO",
                        "admins": {DOMAIN[0]: {"password": DOMAIN[1]}},
                        "dcs": ["dc1.contoso.com", "dc2.contoso.com", "dc3.contoso.com"],
                    }
                }
            },
            "hosts": [{"name": "SIM01", "startup_cost_s": 0, "install_s": 0, **host}],
        }
    )


def cred(user: str, password: str) -> str:
    return (
        f"(New-Object System.Management.Automation.PSCredential('{user}', "
        f"(ConvertTo-SecureString '{password}' -AsPlainText -Force)))"
    )


def seed_statements() -> list[str]:
    """The seed's install-sequence lines, placeholders filled, Get-Credential replaced."""
    blocks = re.findall(r"```powershell\n(.*?)```", SEED.read_text(), flags=re.S)
    lines = [line.strip() for b in blocks for line in b.splitlines() if line.strip()]
    out = []
    for line in lines:
        if "AzureUSGovernment" in line or "-CustomGMSAName" in line:
            continue  # the alternatives to the public-cloud / new-gMSA lines
        if (
            line.startswith("Add-AADCloudSyncADDomain")
            and "-PreferredDomainControllers" not in line
        ):
            continue  # the seed shows two alternatives; run the one with preferred DCs
        line = line.replace("<path to AADConnectProvisioningAgentSetup.exe>", INSTALLER_SHARE_PATH)
        line = line.replace("<domain name>", "contoso.com")
        for i, dc in enumerate(("first", "second", "third"), 1):
            line = line.replace(f"<{dc} DC>", f"dc{i}.contoso.com")
        if line.startswith("Connect-AADCloudSyncAzureAD"):
            line = line.replace("(Get-Credential)", cred(*HYBRID))
        elif line.startswith("Set-AADCloudSyncPasswordWritebackConfiguration"):
            line = line.replace("(Get-Credential)", cred(*GLOBAL))
        else:
            line = line.replace("(Get-Credential)", cred(*DOMAIN))
        out.append(line)
    return out


def test_seed_statements_cover_the_sequence() -> None:
    names = [s.split()[0] for s in seed_statements()]
    assert names == [
        "Start-Process",
        "Import-Module",
        "Connect-AADCloudSyncAzureAD",
        "Add-AADCloudSyncGMSA",
        "Add-AADCloudSyncADDomain",
        "Restart-Service",
        "Set-AADCloudSyncPasswordWritebackConfiguration",
    ]


def test_seed_sequence_in_one_session_installs_the_agent() -> None:
    w = world()
    host = w.hosts["SIM01"]
    r = run_stdin(host, seed_statements())
    assert r.stderr == "", clean_clixml(r.stderr)
    svc = host.service(AGENT_SERVICE)
    assert svc is not None and svc.status == "Running"
    assert svc.start_name == "CONTOSO\\provAgentgMSA$"
    assert host.agent_domains == ["contoso.com"]
    assert w.tenant.writeback is True
    events = [e["event"] for e in host.record.events]
    for name in (
        "installer_run",
        "gmsa_created",
        "agent_registered",
        "domain_added",
        "service_restarted",
        "writeback_set",
    ):
        assert name in events
    assert not w.tenant.windows_overlapped()
    assert host.record.command_lines[-1] == f'"{INSTALLER_SHARE_PATH}" /quiet'
    check = run_encoded(
        host,
        "(Get-CimInstance Win32_Service -Filter \"Name='AADConnectProvisioningAgent'\").StartName; "
        "(Get-Item 'C:\\Program Files\\Microsoft Azure AD Connect Provisioning Agent\\AADConnectProvisioningAgent.exe').VersionInfo.ProductVersion; "  # noqa: E501
        "(Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Azure AD Connect Agents\\Azure AD Connect Provisioning Agent').TenantID -eq $null; "  # noqa: E501
        "(Get-Service AADConnectProvisioningAgentUpdater).DisplayName",
    )
    assert check.stdout.splitlines() == [
        "CONTOSO\\provAgentgMSA$",
        "1.1.2334.0",
        "False",
        "Microsoft Entra Connect Agent Updater",
    ]


def test_seed_statements_in_separate_processes_fail_like_windows() -> None:
    host = world().hosts["SIM01"]
    results = {s.split()[0]: run_encoded(host, s) for s in seed_statements()}
    assert results["Start-Process"].exit_code == 0
    assert results["Import-Module"].stderr == ""
    for name in ("Connect-AADCloudSyncAzureAD", "Add-AADCloudSyncGMSA", "Add-AADCloudSyncADDomain"):
        text = clean_clixml(results[name].stderr)
        assert f"The term '{name}' is not recognized" in text
        assert results[name].exit_code == 1
    svc = host.service(AGENT_SERVICE)
    assert svc is not None and svc.start_name == "LocalSystem"


def test_connect_does_not_carry_into_a_new_process() -> None:
    host = world().hosts["SIM01"]
    run_stdin(host, [seed_statements()[0]])
    imp = "Import-Module 'C:\\Program Files\\Microsoft Azure AD Connect Provisioning Agent\\Microsoft.CloudSync.PowerShell.dll'"  # noqa: E501
    r1 = run_encoded(host, f"{imp}; Connect-AADCloudSyncAzureAD -Credential {cred(*HYBRID)}")
    assert r1.exit_code == 0, clean_clixml(r1.stderr)
    r2 = run_encoded(host, f"{imp}; Add-AADCloudSyncGMSA -Credential {cred(*DOMAIN)}")
    assert "run Connect-AADCloudSyncAzureAD" in clean_clixml(r2.stderr)


# ---- the runbook bootstrap ---------------------------------------------------------------


def bootstrap_text() -> str:
    return BOOTSTRAP.read_text()


IMPORT = "Import-Module 'C:\\Program Files\\Microsoft Azure AD Connect Provisioning Agent\\Microsoft.CloudSync.PowerShell.dll'"  # noqa: E501
STEPS: list[dict[str, object]] = [
    {
        "type": "step",
        "id": "stage",
        "check": "(Test-Path 'C:\\Windows\\TEMP\\AADConnectProvisioningAgentSetup.exe')",
        "script": "Copy-Item -Path '\\\\fs01\\install\\AADConnectProvisioningAgentSetup.exe' -Destination 'C:\\Windows\\TEMP\\' -Force; (Get-FileHash 'C:\\Windows\\TEMP\\AADConnectProvisioningAgentSetup.exe' -Algorithm SHA256).Hash",  # noqa: E501
    },
    {
        "type": "step",
        "id": "install",
        "check": "Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Azure AD Connect Agents\\Azure AD Connect Provisioning Agent'",  # noqa: E501
        "script": "$p = Start-Process -FilePath 'C:\\Windows\\TEMP\\AADConnectProvisioningAgentSetup.exe' -ArgumentList '/quiet' -NoNewWindow -Wait -PassThru; if ($p.ExitCode -notin 0, 3010) { throw \"installer exit $($p.ExitCode)\" }; $p.ExitCode",  # noqa: E501
    },
    {"type": "step", "id": "import", "check": "", "script": IMPORT},
    {
        "type": "step",
        "id": "connect",
        "check": "",
        "script": "Connect-AADCloudSyncAzureAD -Credential $Secrets['entra']",
    },
    {
        "type": "step",
        "id": "gmsa",
        "check": "",
        "script": "Add-AADCloudSyncGMSA -Credential $Secrets['domain']",
    },
    {
        "type": "step",
        "id": "domain",
        "check": "(Get-AADCloudSyncDomains | Where-Object { $_.DomainName -eq 'contoso.com' }) -ne $null",  # noqa: E501
        "script": "Add-AADCloudSyncADDomain -DomainName 'contoso.com' -Credential $Secrets['domain'] -PreferredDomainControllers 'dc1.contoso.com','dc2.contoso.com'",  # noqa: E501
    },
    {
        "type": "step",
        "id": "restart",
        "check": "",
        "script": "Restart-Service -Name AADConnectProvisioningAgent; (Get-Service AADConnectProvisioningAgent).Status.ToString()",  # noqa: E501
    },
    {
        "type": "step",
        "id": "again",
        "check": "Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Azure AD Connect Agents\\Azure AD Connect Provisioning Agent'",  # noqa: E501
        "script": "throw 'not skipped'",
    },
    {"type": "step", "id": "bad", "check": "", "script": "Get-Service -Name NoSuchService"},
]


def run_bootstrap(
    host: SimHost, frames: list[dict[str, object] | str]
) -> tuple[list[dict[str, object]], str, int | None]:
    proc = host.start_process(
        "powershell.exe",
        ["-NoProfile", "-NonInteractive", "-EncodedCommand", encode_command(bootstrap_text())],
    )
    lines = (f if isinstance(f, str) else json.dumps(f) for f in frames)
    proc.feed_stdin("".join(line + "\r\n" for line in lines).encode("utf-8"), True)
    r = collect(proc)
    results = [
        json.loads(line[len("@@CLOUDSYNC@@") :])
        for line in r.stdout.splitlines()
        if line.startswith("@@CLOUDSYNC@@")
    ]
    return results, r.stderr, r.exit_code


def secrets() -> list[dict[str, object] | str]:  # as the worker sends them
    return [
        secret_frame("entra", Credential(HYBRID[0], HYBRID[1])),
        secret_frame("domain", Credential(DOMAIN[0], DOMAIN[1])),
    ]


def test_bootstrap_end_to_end() -> None:
    w = world()
    host = w.hosts["SIM01"]
    results, stderr, code = run_bootstrap(host, [*secrets(), *STEPS, {"type": "exit"}])
    assert stderr == ""
    assert code == 0
    by_id = {r["id"]: r for r in results}
    assert all(r["id"] for r in results)  # no banner: only step results
    assert by_id["stage"]["status"] == "done" and by_id["stage"]["output"] == INSTALLER_SHA256
    assert by_id["install"]["output"] == 0
    for step in ("import", "connect", "gmsa", "domain"):
        assert by_id[step]["status"] == "done", by_id[step]
    assert by_id["restart"]["output"] == "Running"
    assert by_id["again"]["status"] == "skipped"
    bad = by_id["bad"]
    assert bad["status"] == "failed"
    assert bad["error"] == {
        "message": "Cannot find any service with service name 'NoSuchService'.",
        "id": "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand",
        "category": "ObjectNotFound",
    }
    svc = host.service(AGENT_SERVICE)
    assert svc is not None and svc.start_name == "CONTOSO\\provAgentgMSA$"


def test_bootstrap_rerun_skips_done_steps() -> None:
    host = world().hosts["SIM01"]
    run_bootstrap(host, [*secrets(), *STEPS[:2], {"type": "exit"}])
    results, _, _ = run_bootstrap(host, [*secrets(), *STEPS[:2], {"type": "exit"}])
    assert [r["status"] for r in results] == ["skipped", "skipped"]
    assert [e["event"] for e in host.record.events].count("installer_run") == 1


def test_secret_never_in_script_blocks_or_command_lines() -> None:
    host = world().hosts["SIM01"]
    run_bootstrap(host, [*secrets(), *STEPS, {"type": "exit"}])
    rec = host.record.to_dict()
    blob = (
        json.dumps(rec["script_blocks"])
        + json.dumps(rec["command_lines"])
        + json.dumps(rec["cmdlets"])
    )
    for password in (HYBRID[1], DOMAIN[1]):
        assert password not in blob
    assert len(rec["script_blocks"]) > len(STEPS)  # the loader plus each compiled check/script


def test_module_logging_records_what_a_cmdlet_was_given() -> None:
    """The model's truth (event 4103 keeps parameter bindings): the old loader's way of making
    a credential, ConvertTo-SecureString -AsPlainText, would put the password in the log."""
    host = world(module_logging=True).hosts["SIM01"]
    r = run_encoded(host, f"$c = {cred(*HYBRID)}; $null = $c")
    assert r.exit_code == 0
    bound = json.dumps(host.record.to_dict()["module_log"])
    assert HYBRID[1] in bound and "ConvertTo-SecureString" in bound


def test_with_module_logging_on_no_secret_reaches_the_event_log() -> None:
    host = world(module_logging=True, script_block_logging=True).hosts["SIM01"]
    results, stderr, _ = run_bootstrap(host, [*secrets(), *STEPS, {"type": "exit"}])
    assert stderr == ""
    assert {r["id"]: r["status"] for r in results}["connect"] == "done"  # the secrets work
    record = host.record.to_dict()
    assert record["module_log"], "module logging recorded nothing"
    logged = json.dumps(record["module_log"]) + json.dumps(record["script_blocks"])
    for secret in (HYBRID[1], DOMAIN[1]):
        assert secret not in logged
    assert "ConvertTo-SecureString" not in {m["command"] for m in record["module_log"]}


def test_a_bad_frame_is_answered_and_the_loader_goes_on() -> None:
    host = world().hosts["SIM01"]
    results, _, code = run_bootstrap(host, ["{not json", "S !!! ???", STEPS[0], {"type": "exit"}])
    assert code == 0
    assert [r["id"] for r in results] == ["frame", "frame", STEPS[0]["id"]]
    assert results[0]["status"] == results[1]["status"] == "failed"
    assert results[2]["status"] == "done"


def test_upload_frames_write_a_file_as_data_and_a_broken_one_is_answered() -> None:
    host = world(script_block_logging=True).hosts["SIM01"]
    dest = "C:\\Windows\\TEMP\\pushed.exe"
    b64 = base64.b64encode
    frames: list[dict[str, object] | str] = [
        "D " + b64(b"ignored: no file is open").decode(),
        "U " + b64(dest.encode()).decode(),
        "D " + b64(INSTALLER_CONTENT[:40]).decode(),
        "D " + b64(INSTALLER_CONTENT[40:]).decode(),
        {"type": "step", "id": "hash", "check": "", "script": f"(Get-FileHash '{dest}').Hash"},
        "U " + b64(b"C:\\nowhere\\x.exe").decode(),
        "D !!!",
        {"type": "step", "id": "after", "check": "", "script": "'still reading'"},
        {"type": "exit"},
    ]
    results, _, code = run_bootstrap(host, frames)
    assert code == 0
    assert [(r["id"], r["status"]) for r in results] == [
        ("hash", "done"),
        ("frame", "failed"),  # the folder does not exist
        ("after", "done"),  # the D frame after it was dropped, the loader read on
    ]
    assert results[0]["output"] == INSTALLER_SHA256
    pushed = host.file(dest)
    assert pushed is not None and pushed.content == INSTALLER_CONTENT
    blocks = "\n".join(host.record.script_blocks)
    assert b64(INSTALLER_CONTENT[:40]).decode() not in blocks


def test_bootstrap_ends_when_stdin_closes() -> None:
    host = world().hosts["SIM01"]
    results, _, code = run_bootstrap(host, [])
    assert results == []
    assert code == 0


def test_result_lines_are_pure_ascii_whatever_the_output() -> None:
    """Non-ASCII output (a localized message, an accented name) travels as JSON escapes."""
    host = world().hosts["SIM01"]
    text = "Caf\u00e9 \u00f1 \u65e5\u672c \u2014 ok"
    step = {"type": "step", "id": "say", "check": "", "script": f"'{text}'"}
    proc = host.start_process(
        "powershell.exe",
        ["-NoProfile", "-NonInteractive", "-EncodedCommand", encode_command(bootstrap_text())],
    )
    proc.feed_stdin((json.dumps(step) + "\r\n").encode("utf-8"), True)
    out = collect(proc).stdout
    line = next(x for x in out.splitlines() if x.startswith("@@CLOUDSYNC@@"))
    assert line.isascii() and "\\u00e9" in line
    assert json.loads(line[len("@@CLOUDSYNC@@") :])["output"] == text
