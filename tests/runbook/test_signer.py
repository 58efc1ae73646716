"""The installer's signer: Microsoft's subject forms and a chain to a Microsoft root; SHA-256
stays the pin.

Sources: Microsoft PKI Repository (https://www.microsoft.com/pkiops/docs/repository.htm) for the
"Microsoft Root Certificate Authority 2010/2011" roots; .NET's X509Chain
(https://learn.microsoft.com/dotnet/api/system.security.cryptography.x509certificates.x509chain):
``Build`` then ``ChainElements``, leaf first and root last. Older Microsoft signing certificates
carry ``OU=MOPR`` in their subject.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from simulator.host import MICROSOFT_CHAIN
from tests.runbook.conftest import SimEnv
from tests.runbook.test_runner_sim import (
    events,
    host_failure,
    install_change,
    make_runner,
    never,
    request,
)
from workers.domain.config import InstallerSource, TenantConfig
from workers.domain.model import Cloud
from workers.runbook.steps import (
    MICROSOFT_ROOT_THUMBPRINTS,
    MICROSOFT_SIGNERS,
    installer_roots,
    installer_signers,
    stage_step,
)

FORGED = "0123456789ABCDEF0123456789ABCDEF01234567"  # a root made with Microsoft's subject
MOPR = "CN=Microsoft Corporation, OU=MOPR, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"


def test_allow_list_has_microsofts_forms_and_the_inventorys() -> None:
    assert MOPR in MICROSOFT_SIGNERS
    assert installer_signers("CN=Custom")[-1] == "CN=Custom"
    assert installer_signers(MICROSOFT_SIGNERS[0]) == list(MICROSOFT_SIGNERS)


def test_mopr_subject_is_accepted(sim_env: Callable[..., SimEnv], rclient: Any) -> None:
    env = sim_env([{"name": "SYNC01", "installer_signer": MOPR}])
    runner, _progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()


@pytest.mark.parametrize(
    ("spec", "message", "hint_words"),
    [
        (
            {"installer_signer": "CN=Contoso Tools, O=Contoso, C=US"},
            "unexpected subject: CN=Contoso Tools",
            "not the approved one",
        ),
        # a self-made root the server does not trust: Build() is $false, first status named
        (
            {"installer_chain": [MICROSOFT_CHAIN[0], "CN=Totally Microsoft Root, O=Evil"]},
            "chain is not trusted on this server (UntrustedRoot: A certificate chain processed",
            "does not trust the installer's signature chain",
        ),
        (
            {"installer_chain": []},
            "chain is not trusted on this server (PartialChain:",
            "does not trust the installer's signature chain",
        ),
        # a root with Microsoft's subject but another thumbprint, not in the store
        (
            {"installer_root_thumbprint": FORGED},
            "chain is not trusted on this server (UntrustedRoot:",
            "does not trust the installer's signature chain",
        ),
        # ... and the same root added to the server's root store: trusted, but not pinned
        (
            {"installer_root_thumbprint": FORGED, "extra_trusted_roots": [FORGED]},
            "not a pinned Microsoft root: CN=Microsoft Root Certificate Authority 2011, "
            f"O=Microsoft Corporation, L=Redmond, S=Washington, C=US (thumbprint {FORGED})",
            "installer.root_thumbprints",
        ),
        # revocation cannot be checked (no route to the CRL endpoints): refused, not skipped
        (
            {"revocation_online": False},
            "chain is not trusted on this server (RevocationStatusUnknown:",
            "port 80",
        ),
    ],
)
def test_foreign_signer_or_root_stops_the_stage(
    sim_env: Callable[..., SimEnv],
    rclient: Any,
    spec: dict[str, Any],
    message: str,
    hint_words: str,
) -> None:
    env = sim_env([{"name": "SYNC01", **spec}])
    runner, _progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    stopped, error, hint = host_failure(out, "SYNC01")
    assert stopped == "stage" and message in (error or ""), error
    assert hint_words in (hint or ""), hint
    assert events(env, "SYNC01", "installer_run") == []


def test_inventory_root_thumbprint_is_accepted(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """An organisation that re-signs with its own root adds that root's thumbprint to the
    inventory, the way it adds a signer subject."""
    env = sim_env(
        [{"name": "SYNC01", "installer_root_thumbprint": FORGED, "extra_trusted_roots": [FORGED]}]
    )
    tenant = env.config.tenants["contoso"]
    inst = replace(tenant.installer, root_thumbprints=(FORGED.lower(),))
    env.config.tenants["contoso"] = replace(tenant, installer=inst)
    runner, _progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()


def test_pinned_roots_are_microsofts_2010_and_2011() -> None:
    assert installer_roots(()) == list(MICROSOFT_ROOT_THUMBPRINTS)
    assert "8F43288AD272F3103B6FB1428485EA3014C0BCFE" in MICROSOFT_ROOT_THUMBPRINTS
    assert "3B1EFD3A66EA28B16697394703A72CA340A05BD5" in MICROSOFT_ROOT_THUMBPRINTS
    assert installer_roots(("ab" * 20,))[-1] == "AB" * 20


def test_stage_script_sets_the_chain_policy_and_uses_builds_answer() -> None:
    tenant = TenantConfig(
        name="t",
        cloud=Cloud.PUBLIC,
        entra_admin_secret="e",
        global_admin_secret=None,
        enterprise_admin_secret=None,
        forest_admin_secret=None,
        domains={},
        installer=InstallerSource("A" * 64, path="/data/AADConnectProvisioningAgentSetup.exe"),
    )
    script = stage_step(tenant).script
    assert "X509RevocationMode]::Online" in script
    assert "X509RevocationFlag]::ExcludeRoot" in script
    assert "UrlRetrievalTimeout = [TimeSpan]::FromSeconds(30)" in script
    assert "$trusted = $chain.Build(" in script and "Thumbprint" in script
