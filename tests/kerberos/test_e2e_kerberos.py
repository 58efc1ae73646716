"""The whole path on a host built to the cloud sync prerequisites: Kerberos only, NTLM off.

A slash command through the Bolt endpoint, an approval, a real Celery worker that takes a ticket
from the real KDC with the WinRM secret's password (memory cache only), and the simulated host
accepting Kerberos for HTTP/<fqdn> with its keytab and refusing NTLM. The approval card names the
sign-in; an NTLM host's card carries the prerequisite's warning."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import E2EStack, start_stack
from tests.e2e.secret_scan import forms, redis_contents
from tests.e2e.slack_helpers import card_text, reply_to, wait_card
from tests.kerberos.conftest import KerberosLab
from workers.domain.model import State

pytestmark = pytest.mark.e2e


def _kerberos_host(lab: KerberosLab) -> Any:
    def mutate(inventory: dict, policy: dict) -> None:  # type: ignore[type-arg]
        tenant = next(iter(inventory["tenants"].values()))
        tenant["kerberos_realm"] = lab.realm.name
        inventory["hosts"]["KERB01"] = {
            "simulated": True,
            "fqdn": lab.fqdn,
            "credential": "winrm_kerberos",
            "sim": {"ntlm": False, "keytab": str(lab.keytab)},
        }
        # every other host keeps NTLM (a demo host), so the card's warning can be compared
        for name in inventory["hosts"]:
            if name != "KERB01":
                inventory["hosts"][name] = {**(inventory["hosts"][name] or {}), "transport": "ntlm"}

    return mutate


@pytest.fixture(scope="module")
def kstack(
    kerberos_lab: KerberosLab, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[E2EStack]:
    def login(config_dir: Path) -> None:
        """KERB01's WinRM login, an account of the realm (the KDC knows it by its password);
        its own name, since the simulator's NTLM accounts are shared by every stack."""
        (config_dir / "secrets" / "winrm_kerberos.txt").write_text(kerberos_lab.password)
        secrets = yaml.safe_load((config_dir / "secrets.yaml").read_text())
        secrets["secrets"]["winrm_kerberos"] = {
            "user": f"CONTOSO\\{kerberos_lab.user}",
            "password": "file:secrets/winrm_kerberos.txt",
        }
        (config_dir / "secrets.yaml").write_text(yaml.safe_dump(secrets))

    workdir = tmp_path_factory.mktemp("kerberos-e2e")
    stack = start_stack(workdir, _kerberos_host(kerberos_lab), login)
    try:
        yield stack
    finally:
        stack.stop()


def test_install_on_a_kerberos_only_host(kstack: E2EStack) -> None:
    host = kstack.config.hosts["KERB01"]
    assert (host.transport, host.fqdn, host.realm) == (
        "kerberos",
        "sync01.contoso.test",
        "CONTOSO.TEST",
    )
    request = kstack.submit("alice", "install KERB01 --domain contoso.com")
    pre = kstack.wait_preflight(request.id)
    assert pre.preflight["KERB01"].ok, pre.preflight["KERB01"]
    card = wait_card(kstack, request.id, "KERB01")
    assert "NTLM" not in card_text(card)
    assert kstack.click("bob", "approve", request.id).status_code == 200
    done = kstack.wait_state(request.id, State.SUCCEEDED, State.FAILED, timeout=90)
    assert done.state is State.SUCCEEDED, done.reason
    record = kstack.sim_host("KERB01").record.to_dict()
    assert [e["event"] for e in record["events"]].count("installer_run") == 1


def test_an_ntlm_host_is_flagged_with_the_prerequisite(kstack: E2EStack) -> None:
    request = kstack.submit("alice", "install SYNC01 --domain contoso.com")
    card = wait_card(kstack, request.id, "NTLM should not be enabled")
    assert "simulated demo host" in card_text(card)
    assert kstack.slash("alice", "plan SYNC01 --domain contoso.com").status_code == 200
    assert "NTLM should not be enabled" in reply_to(kstack, "alice", "NTLM")


def test_a_kerberos_host_refuses_the_ntlm_login(
    kerberos_lab: KerberosLab, kstack: E2EStack
) -> None:
    import winrm
    from winrm.exceptions import InvalidCredentialsError

    url = f"http://{kstack.local.stack.endpoints['KERB01']}/wsman"
    session = winrm.Session(
        url, auth=("CONTOSO\\svc-cloudsync", kerberos_lab.password), transport="ntlm"
    )
    with pytest.raises((InvalidCredentialsError, PermissionError)):
        session.run_cmd("hostname")


def test_the_kerberos_password_is_nowhere(kerberos_lab: KerberosLab, kstack: E2EStack) -> None:
    """After the Kerberos install: the WinRM password the worker took its ticket with is in no
    host record, worker log, Redis value or Slack call (the secret scan of the NTLM path, for
    this one)."""
    import json

    secret = kerberos_lab.password
    record = kstack.sim_host("KERB01").record.to_dict()
    assert record["script_blocks"], "the install ran on KERB01"
    places = {
        "host record": json.dumps({k: v for k, v in record.items() if k != "events"}),
        "worker log": kstack.worker_log.read_text(errors="replace"),
        "slack calls": json.dumps([c.to_dict() for c in kstack.slack.calls], default=str),
    }
    places["redis"] = redis_contents(kstack.redis_url)
    for where, text in places.items():
        for form in forms(secret):
            assert form not in text, f"the Kerberos password appears in the {where}"
