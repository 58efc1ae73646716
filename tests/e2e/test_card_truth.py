"""Cancel tells the truth and cards match the state, through the real stack: a cancel while the
installer runs (it finishes anyway) says which step was running, that it had finished, and the
host's state; a retried card drops the old failure and status counts as the card does; a drift
says one thing with one next step; a denied card has no approval count and pings the requester."""

from __future__ import annotations

import re

from simulator.contract import Fault
from tests.e2e.harness import CHANNEL, E2EStack
from tests.e2e.slack_helpers import buttons, card, card_text, reply_to, wait_card
from workers.domain.model import State, StepStatus


def test_cancel_during_install_says_the_installer_finished(e2e: E2EStack) -> None:
    request = e2e.submit("alice", "install CANCEL01 --domain contoso.com")
    assert e2e.click("bob", "approve", request.id).status_code == 200

    def installer_running() -> bool:
        step = e2e.store.load_steps(request.id, "CANCEL01").get("install")
        return (
            step is not None
            and step.status is StepStatus.RUNNING
            and bool(e2e.sim_host("CANCEL01").installer_running)
        )

    e2e.wait_for(installer_running, timeout=30, what="the installer running")
    assert e2e.slash("alice", f"cancel {request.id}").status_code == 200
    said = reply_to(e2e, "alice", f"Stopping {request.id}")
    assert "CANCEL01 is on install" in said, said

    done = e2e.wait_state(request.id, State.CANCELLED, timeout=60)
    assert done.reason is not None
    assert "install had already finished" in done.reason, done.reason
    assert "the agent is installed but not registered" in done.reason
    steps = e2e.store.load_steps(request.id, "CANCEL01")
    assert steps["install"].status is StepStatus.DONE

    final = wait_card(e2e, request.id, "cancelled", "install had already finished")
    assert "cancelled while running" not in card_text(final)

    def summary() -> str | None:
        for message in e2e.slack.messages(CHANNEL):
            text = card_text(message)
            if message.thread_ts and request.id in text and "installed but not registered" in text:
                return text
        return None

    e2e.wait_for(summary, timeout=30, what="the thread summary naming the host's state")


def test_a_retried_card_drops_the_old_failure_and_status_counts_as_the_card(
    e2e: E2EStack,
) -> None:
    host = e2e.sim_host("RETRY01")
    host.faults.add(Fault(kind="fail", cmdlet="Add-AADCloudSyncADDomain", message="injected boom"))
    request = e2e.submit("alice", "install RETRY01 --domain contoso.com")
    assert e2e.click("bob", "approve", request.id).status_code == 200
    failed = e2e.wait_state(request.id, State.FAILED, State.SUCCEEDED, timeout=60)
    assert failed.state is State.FAILED, failed.reason
    wait_card(e2e, request.id, "injected boom", "failed at domain:contoso.com")

    e2e.kill_workers()  # the retry waits in the queue: the card shows it before it runs
    try:
        assert e2e.slash("alice", f"retry {request.id}").status_code == 200
        queued = wait_card(e2e, request.id, "queued")
        text = card_text(queued)
        assert "injected boom" not in text and "failed at" not in text, text
        words = re.search(r"RETRY01 (⏳ )?(\d+/\d+ steps)", text)
        assert words, text
        assert e2e.slash("alice", f"status {request.id}").status_code == 200
        status = reply_to(e2e, "alice", f"*RETRY01* — {words.group(2)}")
        assert "injected boom" not in status
    finally:
        e2e.start_worker()
    done = e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED, timeout=90)
    assert done.state is State.SUCCEEDED, done.reason


def test_drift_says_one_thing_and_one_next_step(e2e: E2EStack) -> None:
    request = e2e.submit("alice", "install DRIFT01 --domain contoso.com")
    e2e.kill_workers()  # approve, then change the server before the run's preflight
    try:
        assert e2e.click("bob", "approve", request.id).status_code == 200
        e2e.wait_state(request.id, State.QUEUED, State.APPROVED)
        e2e.sim_host("DRIFT01").set_reg(
            "HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full",
            {"Release": 533325, "Version": "4.8.09037"},
        )
    finally:
        e2e.start_worker()
    back = e2e.wait_for(
        lambda: (
            (r := e2e.store.get(request.id)).state is State.PENDING_APPROVAL
            and r.attempts >= 1
            and r
        ),
        timeout=60,
        what="the request back for approval",
    )
    assert "changed since the approval" in (back.reason or "")
    shown = card_text(wait_card(e2e, request.id, "changed since the approval"))
    assert shown.count("changed since the approval") == 1, shown
    assert "approve" in {b["action_id"] for b in buttons(card(e2e, request.id))}

    def drift_reply() -> str | None:
        for message in e2e.slack.messages(CHANNEL):
            text = card_text(message)
            if message.thread_ts and "DRIFT01" in text and "changed since the approval" in text:
                return text
        return None

    reply = e2e.wait_for(drift_reply, timeout=30, what="the drift reply in the thread")
    assert "retry" not in reply and "approve it again" in reply, reply
    assert e2e.slash("alice", f"cancel {request.id}").status_code == 200
    e2e.wait_state(request.id, State.CANCELLED)


def test_a_denied_card_drops_approvals_and_expiry_and_mentions_the_requester(
    e2e: E2EStack,
) -> None:
    request = e2e.submit("alice", "install DRIFT01 --domain fabrikam.com")
    assert "Approvals" in card_text(card(e2e, request.id))
    assert e2e.submit_deny("bob", request.id, "not this week").status_code == 200
    e2e.wait_state(request.id, State.DENIED)
    final = wait_card(e2e, request.id, "Denied by", "not this week")
    text = card_text(final)
    assert "Approvals" not in text and "Expires" not in text, text
    assert "<@U01ALICE>" in text
