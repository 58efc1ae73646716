"""Security tests, gathered: signatures, replays, the authorization matrix, PowerShell injection
through every field, and configuration that holds a plaintext secret. (The secret scan across
every place a secret could leak is tests/e2e/test_secrets.py; the property test that no value
passing validation can change a script's structure is
tests/runbook/test_powershell.py::test_validated_values_never_change_script_structure.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.local.signing import signed_headers
from tests.e2e.harness import DEMO, E2EStack
from workers.domain.config import ConfigError, load_config
from workers.domain.model import State

BODY = "command=%2Fcloudsync&text=help&user_id=U01ALICE&channel_id=C01OPS&team_id=T01DEMO"


def _script_blocks(e2e: E2EStack) -> int:
    assert e2e.local.stack.sim is not None
    return sum(len(h.record.script_blocks) for h in e2e.local.stack.sim.world.hosts.values())


# --- request authenticity ---------------------------------------------------------------------
def test_forged_signature_is_refused(e2e: E2EStack) -> None:
    headers = signed_headers("not-the-signing-secret", BODY)
    assert e2e.post(BODY, headers=headers).status_code == 401


def test_stale_timestamp_is_refused(e2e: E2EStack) -> None:
    headers = signed_headers(e2e.local.signing_secret, BODY, timestamp=int(time.time()) - 301)
    assert e2e.post(BODY, headers=headers).status_code == 401


def test_replayed_request_is_refused(e2e: E2EStack) -> None:
    headers = signed_headers(e2e.local.signing_secret, BODY)
    assert e2e.post(BODY, headers=headers).status_code == 200
    assert e2e.post(BODY, headers=headers).status_code == 401


def test_replayed_approval_click_does_not_approve(e2e: E2EStack) -> None:
    request = e2e.submit("alice", "install SYNC02 --domain contoso.com")
    import json
    from urllib.parse import urlencode

    payload = {
        "type": "block_actions",
        "user": {"id": "U09MALLORY", "username": "mallory", "team_id": "T01DEMO"},
        "channel": {"id": "C01OPS"},
        "container": {"type": "message", "channel_id": "C01OPS"},
        "actions": [{"action_id": "approve", "value": request.id, "type": "button"}],
        "response_url": e2e.slack.response_url("U09MALLORY-replay"),
    }
    body = urlencode({"payload": json.dumps(payload)})
    headers = signed_headers(e2e.local.signing_secret, body)
    assert e2e.post(body, headers=headers).status_code == 200  # refused by policy: not an approver
    assert e2e.post(body, headers=headers).status_code == 401  # the same bytes again
    assert e2e.store.get(request.id).state is State.PENDING_APPROVAL
    e2e.slash("alice", f"cancel {request.id}")


# --- authorization matrix ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("actor", "channel", "may_request", "may_approve"),
    [
        ("alice", "C01OPS", True, False),  # requester only (and never her own)
        ("bob", "C01OPS", True, True),  # approver
        ("mallory", "C01OPS", False, False),  # neither
        ("bob", "C09OTHER", False, False),  # approver, but not in an allowed channel
    ],
)
def test_authorization_matrix(
    e2e: E2EStack, actor: str, channel: str, may_request: bool, may_approve: bool
) -> None:
    before = {r.id for r in e2e.store.recent(limit=1000)}
    assert (
        e2e.slash(actor, "install SYNC03 --domain contoso.com", channel=channel).status_code == 200
    )
    time.sleep(0.5)
    created = [r for r in e2e.store.recent(limit=1000) if r.id not in before]
    assert bool(created) is may_request
    for request in created:
        e2e.wait_preflight(request.id)
        e2e.slash(actor, f"cancel {request.id}")

    # approving carol's request
    request = e2e.submit("carol", "install SYNC03 --domain contoso.com")
    assert e2e.click(actor, "approve", request.id, channel=channel).status_code == 200
    time.sleep(0.5)
    state = e2e.store.get(request.id).state
    assert (state is not State.PENDING_APPROVAL) is may_approve
    if state is State.PENDING_APPROVAL:
        e2e.slash("carol", f"cancel {request.id}")
    else:
        e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED, timeout=60)


def test_self_approval_refused_even_for_an_approver(e2e: E2EStack) -> None:
    request = e2e.submit("bob", "install SYNC03 --domain contoso.com")
    assert e2e.click("bob", "approve", request.id).status_code == 200
    time.sleep(0.5)
    assert e2e.store.get(request.id).state is State.PENDING_APPROVAL
    e2e.slash("bob", f"cancel {request.id}")


# --- PowerShell injection through every field -------------------------------------------------
PAYLOADS = [
    "x'; Remove-Item C:\\ -Recurse -Force; '",
    'x"; Stop-Computer; "',
    "$(Stop-Computer)",
    "x`nStop-Computer",
    "x\u2019; Stop-Computer; \u2018",
    "a;b",
    "x|Out-File C:\\pwn.txt",
    "@(Stop-Computer)",
]
TEMPLATES = [
    "install {p} --domain contoso.com",  # host
    "install SYNC01 --domain {p}",  # domain
    "install SYNC01 --domain contoso.com:{p}",  # preferred DC
    "install SYNC01 --domain contoso.com --gmsa {p}",  # gMSA name
    "install SYNC01 --domain contoso.com --permissions {p}",  # permission type
    "install SYNC01 --domain contoso.com --cloud {p}",  # cloud
    "domain add SYNC01 --domain {p}",
    "permissions SYNC01 --type {p}",
    "permissions SYNC01 --type BasicRead --domain {p}",
    "writeback enable --host {p}",
    "restart {p}",
    "check {p}",
    "status {p}",
    "cancel {p}",
    "retry CS-0001 --from {p}",
]


def test_injection_through_every_field_is_refused_and_reaches_nothing(e2e: E2EStack) -> None:
    e2e.wait_quiet()
    stored = len(e2e.store.recent(limit=10_000))
    blocks = _script_blocks(e2e)
    for template in TEMPLATES:
        for payload in PAYLOADS:
            text = template.format(p=payload.replace(" ", "\u00a0") if " " in payload else payload)
            response = e2e.slash("alice", text)
            assert response.status_code == 200, text
            assert response.text.strip(), f"no clear error for {text!r}"
    e2e.wait_quiet()
    assert len(e2e.store.recent(limit=10_000)) == stored, "an injection attempt stored a request"
    assert _script_blocks(e2e) == blocks, "an injection attempt reached a host"


# --- configuration --------------------------------------------------------------------------
def test_plaintext_secret_in_yaml_is_refused(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "config"
    shutil.copytree(DEMO, folder)
    secrets = folder / "secrets.yaml"
    secrets.write_text(
        secrets.read_text().replace("'file:secrets/entra_admin.txt'", "'Sup3r-Secret!'")
    )
    with pytest.raises(ConfigError) as info:
        load_config(folder)
    message = str(info.value)
    assert "plaintext secret" in message and "env:NAME" in message and "vault:" in message
    assert "Sup3r-Secret!" not in message
