"""Preflight before approval: the KDS root key a new gMSA needs, the execution policy per scope,
and what is already on the server (the agent, Entra Connect Sync), read from simulated hosts.

Sources: Microsoft Learn, "Prerequisites for Microsoft Entra Cloud Sync" (a gMSA needs a KDS
root key; execution policy Undefined or RemoteSigned), "Get-KdsRootKey" (Kds module),
"Get-ExecutionPolicy" (-List in precedence order) and the cloud sync FAQ (the agent may share a
server with Connect Sync).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.blocks.words import preflight_lines
from tests.runbook.conftest import SimEnv, sim_tenant
from workers.domain.model import HostPreflight
from workers.runbook.fleet import collect_preflight
from workers.runbook.preflight import evaluate

GOOD: dict[str, Any] = {
    "os_caption": "Microsoft Windows Server 2022 Datacenter",
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
}


def _texts(pre: HostPreflight) -> list[str]:
    return [f"{p.what} | {p.fix}" for p in [*pre.blockers, *pre.warnings]]


def test_no_kds_root_key_blocks_an_install_that_creates_the_gmsa(
    sim_env: Callable[..., SimEnv],
) -> None:
    env = sim_env([{"name": "SYNC01"}], tenant=sim_tenant(contoso={"kds_root_key": False}))
    pre = collect_preflight(env.config, env.secrets, "SYNC01")
    assert not pre.ok
    (blocker,) = [b for b in pre.blockers if "KDS root key" in b.what]
    assert "no KDS root key was found in the forest" in blocker.what
    assert "Add-KdsRootKey -EffectiveTime ((Get-Date).AddHours(-10))" in blocker.fix
    assert "domain controller" in blocker.fix and "10 h" in blocker.fix
    card = "\n".join(preflight_lines(pre))  # the approval card's existing rendering
    assert "⛔ *no KDS root key was found" in card and "Fix: as a Domain Admin" in card
    # an existing gMSA (--gmsa) or a change to an existing agent creates none: no KDS read
    named = collect_preflight(env.config, env.secrets, "SYNC01", gmsa="svcSync$")
    assert not any("KDS" in t for t in _texts(named))
    change = collect_preflight(env.config, env.secrets, "SYNC01", require_agent=True)
    assert not any("KDS" in t for t in _texts(change))


def test_kds_root_key_present_or_unknown(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01"}, {"name": "SYNC02", "kds_module": False}])
    good = collect_preflight(env.config, env.secrets, "SYNC01")
    assert good.ok and not any("KDS" in t for t in _texts(good)), _texts(good)
    bare = collect_preflight(env.config, env.secrets, "SYNC02")
    assert bare.ok  # not known is a warning, never a pretended pass or a block
    (warning,) = [w for w in bare.warnings if "KDS" in w.what]
    assert "could not check" in warning.what and "Get-KdsRootKey is not available" in warning.what


def test_group_policy_execution_policy_names_the_gpo(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env(
        [
            {"name": "SYNC01", "execution_policies": {"MachinePolicy": "AllSigned"}},
            {"name": "SYNC02", "execution_policies": {"UserPolicy": "Unrestricted"}},
            {"name": "SYNC03", "execution_policy": "AllSigned"},
        ]
    )
    signed = collect_preflight(env.config, env.secrets, "SYNC01")
    assert signed.facts["execution_policies"] == {
        "MachinePolicy": "AllSigned",
        "UserPolicy": "Undefined",
        "Process": "Undefined",
        "CurrentUser": "Undefined",
        "LocalMachine": "RemoteSigned",
    }
    assert list(signed.facts["execution_policies"]) == [
        "MachinePolicy",
        "UserPolicy",
        "Process",
        "CurrentUser",
        "LocalMachine",
    ]
    assert signed.ok  # AllSigned by GPO: a warning (see preflight._check_execution_policy)
    (warning,) = [w for w in signed.warnings if "execution policy" in w.what]
    assert "AllSigned, set by Group Policy (MachinePolicy)" in warning.what
    assert "Set-ExecutionPolicy cannot override Group Policy" in warning.fix
    assert "Computer Configuration" in warning.fix and "Turn on Script Execution" in warning.fix
    unrestricted = collect_preflight(env.config, env.secrets, "SYNC02")
    assert not unrestricted.ok
    (blocker,) = [b for b in unrestricted.blockers if "execution policy" in b.what]
    assert "Unrestricted, set by Group Policy (UserPolicy)" in blocker.what
    assert "User Configuration" in blocker.fix
    local = collect_preflight(env.config, env.secrets, "SYNC03")
    (plain,) = [w for w in local.warnings if "execution policy" in w.what]
    assert plain.what == "PowerShell execution policy is AllSigned"


def test_local_unrestricted_in_a_narrow_scope_says_which_scope() -> None:
    facts = {
        **GOOD,
        "execution_policy": "Unrestricted",
        "execution_policies": {"CurrentUser": "Unrestricted", "LocalMachine": "RemoteSigned"},
    }
    (blocker,) = evaluate(facts).blockers
    assert "Group Policy" not in blocker.what
    assert blocker.fix.endswith("-Scope CurrentUser")


def test_agent_and_connect_sync_already_present(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env(
        [
            {"name": "SYNC01", "agent_installed": {"agent_version": "1.1.96.0"}},
            {"name": "SYNC02", "adsync": {"status": "Running"}},
        ]
    )
    agent = collect_preflight(env.config, env.secrets, "SYNC01")
    (note,) = [w for w in agent.warnings if "already installed" in w.what]
    assert "(1.1.96.0)" in note.what and "does not upgrade the agent" in note.what
    assert "skips the steps already done" in note.fix and "Agent Updater" in note.fix
    adsync = collect_preflight(env.config, env.secrets, "SYNC02")
    assert adsync.ok and adsync.facts["adsync_status"] == "Running"
    (warning,) = [w for w in adsync.warnings if "Connect Sync" in w.what]
    assert "ADSync service Running" in warning.what
    assert "same server" in warning.fix and "scoping" in warning.fix
    # the fingerprint an approval binds to ignores the new facts: approvals stay valid
    assert (
        evaluate(adsync.facts).fingerprint
        == evaluate({**adsync.facts, "adsync_status": None, "execution_policies": {}}).fingerprint
    )
