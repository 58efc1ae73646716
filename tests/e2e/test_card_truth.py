"""Cancel tells the truth and cards match the state, through the real stack: a cancel while the
installer runs waits for it (an installer is not stopped mid-way) and says which step was
running, that it ran to completion after the cancel with its true duration, and the host's
state; a retried card drops the old failure and status counts as the card does; a drift
says one thing with one next step; a denied card has no approval count and pings the requester."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from simulator.contract import Fault
from tests.e2e.harness import CHANNEL, E2EStack
from tests.e2e.slack_helpers import buttons, card, card_text, reply_to, wait_card
from workers.domain.model import State, StepStatus


def _worker_lines(e2e: E2EStack, request_id: str, step: str) -> list[dict[str, Any]]:
    out = []
    for line in e2e.worker_log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("request_id") == request_id and record.get("step") == step:
            out.append(record)
    return out


def test_cancel_during_install_waits_for_the_installer_and_tells_its_true_duration(
    e2e: E2EStack,
) -> None:
    """The installer (12 s, far past the cancel watch's poll and a WinRM receive) is not
    stopped: the run waits for it, and the card, the replies, the audit and the worker log all
    say it ran to completion after the cancel, with its real duration; nothing after it runs."""
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
    time.sleep(2.0)  # well into the install
    assert e2e.slash("alice", f"cancel {request.id}").status_code == 200
    said = reply_to(e2e, "alice", f"Stopping {request.id}")
    assert "CANCEL01 is on install" in said, said
    assert "not stopped mid-way" in said, said

    done = e2e.wait_state(request.id, State.CANCELLED, timeout=60)
    reason = done.reason or ""
    assert "cancelled while install was running" in reason, reason
    assert "so it ran to completion" in reason, reason
    assert "the agent is installed but not registered" in reason, reason
    assert "before the cancel" not in reason, reason
    steps = e2e.store.load_steps(request.id, "CANCEL01")
    install = steps["install"]
    assert install.status is StepStatus.DONE, install
    took = install.duration_s or 0.0
    assert took >= 10.0, install  # the installer's real run, not the moment the cancel was seen
    # nothing after install ran: the next step is marked cancelled, none later started
    later = [s for s in steps.values() if s.step_id not in ("preflight", "stage", "install")]
    assert [(s.step_id, s.status) for s in later] == [("import", StepStatus.CANCELLED)], later
    cmdlets = {c.name.lower() for c in e2e.sim_host("CANCEL01").record.cmdlets}
    assert "import-module" not in cmdlets and "connect-aadcloudsyncazuread" not in cmdlets
    installs = [
        e
        for e in e2e.sim_host("CANCEL01").record.to_dict()["events"]
        if e["event"] == "installer_run"
    ]
    assert len(installs) == 1, installs

    # the audit: install finished after the cancel was asked
    events = e2e.store.events(request_id=request.id)
    asked = next(e.at for e in events if e.name == "cancel_requested")
    finished = [e for e in events if e.name == "step_finished" and e.data.get("step") == "install"]
    assert [e.data.get("status") for e in finished] == ["done"], finished
    assert finished[0].at > asked + 5.0, (asked, finished[0].at)
    assert install.started_at is not None and install.started_at < asked

    # the worker log's step line says what the step result says
    def ended() -> dict[str, Any] | None:
        lines = _worker_lines(e2e, request.id, "install")
        return next((r for r in lines if str(r.get("msg", "")).startswith("step ended")), None)

    line = str(
        e2e.wait_for(ended, timeout=15, what="the install step's end in the worker log")["msg"]
    )
    assert line.startswith(f"step ended status=done in {took:.1f}s"), (line, took)
    assert "so it ran to completion" in line and "the run stops before import" in line, line

    # the card: the install line with its true duration, and the story
    final = wait_card(e2e, request.id, "cancelled", "so it ran to completion")
    text = card_text(final)
    shown = re.search(r"Install the provisioning agent (?:·|\\u00b7) (\d+\.\d) s", text)
    assert shown is not None and float(shown.group(1)) >= 10.0, text
    assert "cancelled while running" not in text
    assert "before the cancel" not in text

    def thread_text(*needles: str) -> str | None:
        for message in e2e.slack.messages(CHANNEL):
            said = card_text(message)
            if message.thread_ts and all(n in said for n in needles):
                return said
        return None

    # the install step's own reply, and the summary naming the host's state
    reply = e2e.wait_for(
        lambda: thread_text("CANCEL01 · install", "so it ran to completion"),
        timeout=30,
        what="the install step's reply",
    )
    assert f"({took:.1f} s)" in reply, reply
    e2e.wait_for(
        lambda: thread_text(request.id, "installed but not registered"),
        timeout=30,
        what="the thread summary naming the host's state",
    )


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
