"""Preflight verdicts and failure hints (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from workers.runbook.hints import hint_for
from workers.runbook.preflight import evaluate, fingerprint
from workers.runbook.steps import Step

GOOD: dict[str, Any] = {
    "os_caption": "Microsoft Windows Server 2022 Datacenter",
    "os_version": "10.0.20348",
    "installation_type": "Server",
    "dotnet_release": 533320,
    "tls12_client_enabled": 1,
    "tls12_client_disabled_by_default": 0,
    "tls12_server_enabled": 1,
    "tls12_server_disabled_by_default": 0,
    "sch_use_strong_crypto": 1,
    "execution_policy": "RemoteSigned",
    "vaultsvc_start_type": "Manual",
    "agent_installed": False,
    "agent_version": None,
    "free_disk_bytes": 50 << 30,
}


def test_good_server_passes() -> None:
    verdict = evaluate(GOOD)
    assert verdict.ok and not verdict.blockers and not verdict.warnings
    assert len(verdict.fingerprint) == 64


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"tls12_server_enabled": 0}, "TLS 1.2"),
        ({"sch_use_strong_crypto": 0}, "TLS 1.2"),  # unset is only a warning now
        ({"os_caption": "Microsoft Windows Server 2012 R2 Standard"}, "not supported"),
        ({"os_caption": "Microsoft Windows Server 2025 Datacenter"}, "not supported"),
        ({"installation_type": "Server Core"}, "Server Core"),
        ({"dotnet_release": 460805}, ".NET"),
        ({"dotnet_release": None}, ".NET"),
        ({"execution_policy": "Unrestricted"}, "Unrestricted"),
        ({"vaultsvc_start_type": "Disabled"}, "VaultSvc"),
    ],
)
def test_hard_failures(change: dict[str, Any], what: str) -> None:
    verdict = evaluate({**GOOD, **change})
    assert not verdict.ok
    assert any(what in p.what for p in verdict.blockers), verdict.blockers


def test_tls_fix_names_the_keys_and_reboot() -> None:
    fix = evaluate({**GOOD, "tls12_client_enabled": 0}).blockers[0].fix
    assert "TLS 1.2\\Client" in fix and "TLS 1.2\\Server" in fix
    assert "SchUseStrongCrypto=1" in fix and "reboot" in fix


def test_warnings_and_agent_presence() -> None:
    installed = {**GOOD, "agent_installed": True, "agent_version": "1.1.2334.0"}
    verdict = evaluate(installed)
    assert verdict.ok and "already installed" in verdict.warnings[0].what
    assert not evaluate(GOOD, require_agent=True).ok
    assert evaluate(installed, require_agent=True).ok
    low = evaluate({**GOOD, "free_disk_bytes": 10 << 20, "execution_policy": "AllSigned"})
    assert low.ok and len(low.warnings) == 2


def test_fingerprint_covers_approval_relevant_facts_only() -> None:
    base = fingerprint(GOOD)
    assert fingerprint({**GOOD, "free_disk_bytes": 1}) == base
    assert fingerprint({**GOOD, "vaultsvc_start_type": "Automatic"}) == base
    for key, value in [
        ("os_version", "10.0.17763"),
        ("agent_installed", True),
        ("agent_version", "1.0"),
        ("tls12_client_enabled", 0),
        ("dotnet_release", 461308),
        ("execution_policy", "Undefined"),
    ]:
        assert fingerprint({**GOOD, key: value}) != base, key
    assert fingerprint({**GOOD, "agent_installed": True}, include_agent=False) == fingerprint(
        GOOD, include_agent=False
    )


CONNECT = Step("connect", "Sign in", "x", credentials=("entra_admin",))


@pytest.mark.parametrize(
    ("error", "expect"),
    [
        ("AADSTS50076: Due to a configuration change ... multi-factor authentication", "MFA"),
        ("AADSTS50079: user must enroll", "Conditional Access"),
        (
            "AADSTS50126: Error validating credentials due to invalid username or password.",
            "secret 'entra_admin'",
        ),
        ("The user's password has expired.", "has expired"),
        ("the account does not have the Hybrid Identity Administrator role", "role"),
        (
            "Unable to create gMSA because KDS may not be running on domain controller",
            "KDS root key",
        ),
        (
            "The specified domain either does not exist or could not be contacted. dc9",
            "domain controller",
        ),
        ("TLS 1.2 is not enabled", "SchUseStrongCrypto"),
        ("registration failed: execution policy Unrestricted", "RemoteSigned"),
        ("installer exit 1603; see the installer logs", "Trace"),
        ("installer exit 1618: another installation is in progress", "another installation"),
        ("reboot pending (exit 3010)", "reboot"),
        ("domain:contoso.com timed out after 300 s and was stopped", "did not finish in time"),
        ("Not connected. Run Connect-AADCloudSyncAzureAD first", "not signed in"),
        (
            "The specified module 'C:\\x.dll' was not loaded because no valid module file "
            "was found",
            "module is missing",
        ),
    ],
)
def test_hints(error: str, expect: str) -> None:
    hint = hint_for(error, CONNECT)
    assert hint is not None and expect.lower() in hint.lower(), hint


def test_no_hint_for_unknown_errors() -> None:
    assert hint_for("something odd happened") is None


def test_gmsa_read_found_missing_or_unknown() -> None:
    from workers.runbook.preflight import evaluate as judge
    from workers.runbook.preflight import gmsa_script, judge_gmsa

    assert "'svcSync$'" in gmsa_script("svcSync$")  # quoted by the one helper
    facts: dict = {}
    found = judge(facts)
    judge_gmsa(found, "svcSync$", {"checked": True, "found": True})
    assert not any("gMSA" in p.what for p in found.blockers + found.warnings)
    missing = judge(facts)
    judge_gmsa(missing, "svcSync$", {"checked": True, "found": False, "error": None})
    assert not missing.ok and any("svcSync$ was not found" in p.what for p in missing.blockers)
    for unknown in ({"checked": False}, {"checked": True, "error": "server down"}):
        verdict = judge(facts)
        before = len(verdict.blockers)
        judge_gmsa(verdict, "svcSync$", unknown)
        assert len(verdict.blockers) == before
        assert any("could not check that the gMSA svcSync$" in p.what for p in verdict.warnings)
