"""Cards that match the state: a retry's or re-approval's card drops the old failure, status
counts steps as the card does, a denied card has no approval count, and a drift says one thing."""

from __future__ import annotations

import json

from bot import blocks as B
from bot.blocks.words import attempt_started, counted_steps, current_results, host_outcome
from workers.domain.model import (
    ChangeKind,
    ChangeSpec,
    DomainSpec,
    Request,
    State,
    StepResult,
    StepStatus,
)

PLAN = [("preflight", "Preflight"), ("stage", "Stage"), ("install", "Install")]


def make(state: State = State.RUNNING, **kw: object) -> Request:
    change = ChangeSpec(
        kind=ChangeKind.INSTALL, hosts=("SYNC01",), domains=(DomainSpec("contoso.com"),)
    )
    return Request(
        id="CS-0001",
        change=change,
        requester="U01ALICE",
        channel="C01OPS",
        created_at=1.0,
        expires_at=3600.0,
        state=state,
        **kw,  # type: ignore[arg-type]
    )


def text_of(body: list[dict]) -> str:
    return json.dumps(body)


def test_a_retry_drops_the_previous_attempts_failure() -> None:
    old = StepResult("SYNC01", "install", "Install", StepStatus.FAILED, 10.0, 11.0, error="boom")
    done = StepResult("SYNC01", "preflight", "Preflight", StepStatus.DONE, 5.0, 6.0)
    since = attempt_started([{"event": "approved", "at": 1.0}, {"event": "retried", "at": 20.0}])
    assert since == 20.0
    results = current_results({"SYNC01": [done, old]}, since)
    assert results == {"SYNC01": [done]}
    _, body = B.progress_card(make(), results, {"SYNC01": PLAN})
    assert "boom" not in text_of(body) and "failed at" not in text_of(body)
    # this attempt's own failure stays
    new = StepResult("SYNC01", "install", "Install", StepStatus.FAILED, 21.0, 22.0, error="again")
    assert current_results({"SYNC01": [done, new]}, since) == {"SYNC01": [done, new]}


def test_status_and_card_count_the_same_steps() -> None:
    done = StepResult("SYNC01", "preflight", "Preflight", StepStatus.DONE, 5.0, 6.0)
    steps = counted_steps({"SYNC01": PLAN}, {"SYNC01": [done]}, ["SYNC01"])
    assert host_outcome(steps["SYNC01"])[1] == "1/3 steps"
    text = B.status_text(make(), steps)
    _, card = B.progress_card(make(), {"SYNC01": [done]}, {"SYNC01": PLAN})
    assert "1/3 steps" in text and "1/3 steps" in text_of(card)


def test_a_denied_card_has_no_approval_count_or_expiry_and_mentions_the_requester() -> None:
    denied = make(State.DENIED, decided_by="U02BOB", decided_at=100.0, reason="freeze")
    _, body = B.decided_card(denied, requester_name="Alice")
    text = text_of(body)
    assert "Approvals" not in text and "Expires" not in text
    assert "<@U01ALICE>" in text and "Denied by <@U02BOB>" in text
    _, pending = B.approval_card(make(State.PENDING_APPROVAL))
    assert "Approvals" in text_of(pending) and "Expires" in text_of(pending)


def test_drift_says_one_thing_and_one_next_step() -> None:
    result = StepResult(
        "SYNC01",
        "preflight",
        "Preflight",
        StepStatus.FAILED,
        1.0,
        2.0,
        error="the server changed since the approval (its preflight facts differ)",
        hint="approve it again on its card, which now shows the new facts",
        data={"changed": True},
    )
    text, body = B.step_reply(result, request_id="CS-0001")
    assert "retry" not in text and "retry" not in text_of(body)
    assert text.count("changed since the approval") == 1 and "approve it again" in text
    back = make(
        State.PENDING_APPROVAL,
        attempts=1,
        reason="the server changed since the approval: approve it again on the new facts",
    )
    _, card = B.approval_card(back)
    assert text_of(card).count("changed since the approval") == 1


GOOD = {"ok": True, "facts": {"tls12": True}}
BAD = {"ok": False, "blockers": [{"what": "TLS 1.2 is disabled", "fix": "enable it"}]}


def two_hosts(preflight: dict[str, dict]) -> Request:
    change = ChangeSpec(
        kind=ChangeKind.INSTALL,
        hosts=("SYNC01", "OLDTLS01"),
        domains=(DomainSpec("contoso.com"),),
    )
    return Request(
        id="CS-0001",
        change=change,
        requester="U01ALICE",
        channel="C01OPS",
        created_at=1.0,
        preflight=preflight,  # type: ignore[arg-type]
        request_hash="h",
    )


def test_a_shared_plan_is_shown_once_for_two_hosts() -> None:
    req = two_hosts({"SYNC01": GOOD, "OLDTLS01": GOOD})
    _, body = B.approval_card(req, plan_steps={"SYNC01": PLAN, "OLDTLS01": PLAN})
    text = text_of(body)
    assert text.count("Stage") == 1 and "Plan on all hosts (3 steps)" in text
    other = [("preflight", "Preflight"), ("install", "Install")]
    _, body = B.approval_card(req, plan_steps={"SYNC01": PLAN, "OLDTLS01": other})
    assert text_of(body).count("Plan (") == 2  # different plans: each under its host


def test_a_blocked_host_offers_resubmit_without_it() -> None:
    req = two_hosts({"SYNC01": GOOD, "OLDTLS01": BAD})
    _, body = B.approval_card(req, plan_steps={"SYNC01": PLAN})
    found = [
        e
        for b in body
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == "resubmit_without"
    ]
    assert found and found[0]["text"]["text"] == "Resubmit without OLDTLS01"
    assert found[0]["value"] == "CS-0001" and "SYNC01" in found[0]["confirm"]["text"]["text"]
    alone = two_hosts({"SYNC01": BAD, "OLDTLS01": BAD})
    _, body = B.approval_card(alone)
    assert "resubmit_without" not in text_of(body)  # nothing left to resubmit
