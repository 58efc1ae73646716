"""The whole path through Bolt's HTTP endpoint: request, approval, Celery, WinRM, Slack."""

from __future__ import annotations

import time

from tests.e2e.harness import CHANNEL, E2EStack
from workers.domain.model import State


def _events(host) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["event"] for e in host.record.to_dict()["events"]]


def test_install_end_to_end_over_http(e2e: E2EStack) -> None:
    started = time.monotonic()
    response = e2e.slash("alice", "install SYNC01 --domain contoso.com")
    assert response.status_code == 200
    assert time.monotonic() - started < 3.0
    request = e2e.latest_request("alice")
    assert request.state is State.PENDING_APPROVAL
    request = e2e.wait_preflight(request.id)
    assert request.preflight["SYNC01"].ok is True

    # the approval card is in the channel with Approve/Deny carrying the request id
    card = e2e.wait_for(
        lambda: next(
            (m for m in e2e.slack.messages(CHANNEL) if request.id in (m.text or "")), None
        ),
        what="approval card",
    )
    buttons = [
        el
        for block in card.blocks or []
        if block.get("type") == "actions"
        for el in block.get("elements", [])
    ]
    assert {b["action_id"] for b in buttons} >= {"approve", "deny"}
    assert all(b["value"] == request.id for b in buttons)

    assert e2e.click("bob", "approve", request.id).status_code == 200
    done = e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED)
    assert done.state is State.SUCCEEDED, done.reason
    e2e.wait_quiet()

    host = e2e.sim_host("SYNC01")
    assert host.service("AADConnectProvisioningAgent").status == "Running"
    assert _events(host).count("installer_run") == 1

    # what Slack received: the card edited in place, one reply per step, the summary
    thread = e2e.slack.thread(CHANNEL, card.ts)
    replies = thread[1:]
    steps = e2e.store.all_steps(done)["SYNC01"]
    step_replies = [m for m in replies if "SYNC01 ·" in (m.text or "")]
    assert len(step_replies) == len(steps)
    assert any("<@U01ALICE>" in (m.text or "") and m.reply_broadcast for m in replies), (
        "summary mentions the requester"
    )
    edited = next(m for m in e2e.slack.messages(CHANNEL) if m.ts == card.ts)
    assert edited.edits, "the request message was edited in place"
    assert "succeeded" in (edited.text or "")


def test_status_shows_recent_requests(e2e: E2EStack) -> None:
    assert e2e.slash("carol", "status").status_code == 200
    e2e.wait_for(lambda: any("CS-" in t for t in e2e.ephemerals_for("carol")), what="status reply")


def test_self_approval_is_refused_and_nothing_runs(e2e: E2EStack) -> None:
    runs_before = _events(e2e.sim_host("SYNC02")).count("installer_run")  # other tests may install
    request = e2e.submit("alice", "install SYNC02 --domain contoso.com")
    assert e2e.click("alice", "approve", request.id).status_code == 200
    text = e2e.wait_for(
        lambda: next(
            (t for t in e2e.ephemerals_for("alice") if request.id in t and "approve" in t), None
        ),
        what="refusal",
    )
    assert "different approver" in text
    time.sleep(0.5)
    assert e2e.store.get(request.id).state is State.PENDING_APPROVAL
    assert _events(e2e.sim_host("SYNC02")).count("installer_run") == runs_before


def test_forged_signature_and_stale_timestamp_get_401(e2e: E2EStack) -> None:
    body = "command=%2Fcloudsync&text=help&user_id=U01ALICE&channel_id=C01OPS"
    forged = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": str(int(time.time())),
        "x-slack-signature": "v0=" + "0" * 64,
    }
    assert e2e.post(body, headers=forged).status_code == 401
    from bot.local.signing import signed_headers

    stale = signed_headers(e2e.local.signing_secret, body, timestamp=int(time.time()) - 600)
    assert e2e.post(body, headers=stale).status_code == 401
