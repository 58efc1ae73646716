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
from workers.runbook.steps import MICROSOFT_SIGNERS, installer_signers

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
    ("spec", "message"),
    [
        (
            {"installer_signer": "CN=Contoso Tools, O=Contoso, C=US"},
            "unexpected subject: CN=Contoso Tools",
        ),
        (
            {"installer_chain": [MICROSOFT_CHAIN[0], "CN=Totally Microsoft Root, O=Evil"]},
            "does not end at a Microsoft root: CN=Totally Microsoft Root",
        ),
        ({"installer_chain": []}, "does not end at a Microsoft root"),
    ],
)
def test_foreign_signer_or_root_stops_the_stage(
    sim_env: Callable[..., SimEnv], rclient: Any, spec: dict[str, Any], message: str
) -> None:
    env = sim_env([{"name": "SYNC01", **spec}])
    runner, _progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    stopped, error, hint = host_failure(out, "SYNC01")
    assert stopped == "stage" and message in (error or "")
    assert "not the approved one" in (hint or "")
    assert events(env, "SYNC01", "installer_run") == []
