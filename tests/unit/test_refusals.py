"""Every refused approve, deny, cancel and retry is an audit event (who, what, why), in the
exact shape the read commands use too: ``refused`` with ``{"action", "reason"}`` (real Redis)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from workers.domain.config import load_config
from workers.domain.model import ChangeKind, ChangeSpec, DomainSpec, Request, State
from workers.domain.service import RequestService
from workers.domain.store import RequestStore, TransitionRefused

ALICE, BOB, MALLORY = "U01ALICE", "U02BOB", "U09MALLORY"
OPS = "C01OPS"


class _NoDispatch:
    def preflight(self, request_id: str) -> None:
        return None

    def run(self, request_id: str) -> None:
        return None


def _service(rclient) -> RequestService:
    return RequestService(RequestStore(rclient), load_config(), _NoDispatch())


def _pending(service: RequestService, state: State = State.PENDING_APPROVAL) -> Request:
    store = service.store
    request = Request(
        id=store.next_id(),
        change=ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com"),)),
        requester=ALICE,
        channel=OPS,
        created_at=time.time(),
        expires_at=time.time() + 600,
        state=state,
        request_hash="h1",
    )
    store.create(request, actor=ALICE)
    return request


DECISION_FACTS = ("plan_hash", "approvers", "approved_plan_hash")


def _refusals(service: RequestService, request_id: str) -> list[tuple[str | None, dict]]:
    """Who and {action, reason}; the decision facts every event about a request carries too
    (plan hash, approvers) are checked by test_a_refusal_carries_the_plan_hash_and_approvers."""
    events = service.store.events(request_id=request_id)
    return [
        (e.actor, {k: v for k, v in e.data.items() if k not in DECISION_FACTS})
        for e in events
        if e.name == "refused"
    ]


def test_a_refusal_carries_the_plan_hash_and_approvers(rclient) -> None:
    service = _service(rclient)
    request = _pending(service)
    with pytest.raises(TransitionRefused):
        service.approve(request.id, MALLORY, OPS)
    (refused,) = [e for e in service.store.events(request_id=request.id) if e.name == "refused"]
    assert refused.data["plan_hash"] == "h1" and refused.data["approvers"] == []


CASES: dict[str, tuple[str, State, Callable[[RequestService, str], object], str]] = {
    "self-approve": (
        ALICE,
        State.PENDING_APPROVAL,
        lambda s, rid: s.approve(rid, ALICE, OPS),
        "a different approver must approve it",
    ),
    "a stranger tries to approve": (
        MALLORY,
        State.PENDING_APPROVAL,
        lambda s, rid: s.approve(rid, MALLORY, OPS),
        "You cannot approve",
    ),
    "approve from another channel": (
        BOB,
        State.PENDING_APPROVAL,
        lambda s, rid: s.approve(rid, BOB, "C99ELSEWHERE"),
        "this channel is not one of them",
    ),
    "the requester tries to deny": (
        ALICE,
        State.PENDING_APPROVAL,
        lambda s, rid: s.deny(rid, ALICE, OPS, "no"),
        "use Cancel",
    ),
    "a stranger tries to deny (the button)": (
        MALLORY,
        State.PENDING_APPROVAL,
        lambda s, rid: s.check_deny(rid, MALLORY, OPS),
        "You cannot deny",
    ),
    "a stranger tries to cancel": (
        MALLORY,
        State.PENDING_APPROVAL,
        lambda s, rid: s.cancel(rid, MALLORY),
        "Only the requester or an approver can cancel",
    ),
    "retry of a cancelled request": (
        ALICE,
        State.CANCELLED,
        lambda s, rid: s.retry(rid, ALICE, None),
        "cancelled is final",
    ),
    "retry without approvals": (
        ALICE,
        State.FAILED,
        lambda s, rid: s.retry(rid, ALICE, None),
        "0 of 1 approvals",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_refusal_is_audited_with_who_what_and_why(rclient, case: str) -> None:
    user, state, attempt, why = CASES[case]
    service = _service(rclient)
    request = _pending(service, state)
    before = service.store.require(request.id)
    with pytest.raises(TransitionRefused, match=why) as refused:
        attempt(service, request.id)
    action = next(a for a in ("retry", "approve", "deny", "cancel") if a in case)
    assert _refusals(service, request.id) == [
        (user, {"action": action, "reason": str(refused.value)})
    ]
    assert service.store.require(request.id).to_dict() == before.to_dict()  # nothing else


def test_a_refused_action_names_itself(rclient) -> None:
    service = _service(rclient)
    request = _pending(service)
    for attempt in (
        lambda: service.approve(request.id, ALICE, OPS),
        lambda: service.deny(request.id, ALICE, OPS, "no"),
        lambda: service.cancel(request.id, MALLORY),
        lambda: service.retry(request.id, ALICE, None),
    ):
        with pytest.raises(TransitionRefused):
            attempt()
    actions = [data["action"] for _, data in _refusals(service, request.id)]
    assert actions == ["approve", "deny", "cancel", "retry"]


def test_an_unknown_request_and_a_double_approval_are_audited(rclient) -> None:
    service = _service(rclient)
    with pytest.raises(TransitionRefused, match="No request CS-0404"):
        service.approve("CS-0404", BOB, OPS)
    assert _refusals(service, "CS-0404") == [
        (BOB, {"action": "approve", "reason": "No request CS-0404."})
    ]
    request = _pending(service)
    service.approve(request.id, BOB, OPS)
    with pytest.raises(TransitionRefused, match="already queued"):
        service.approve(request.id, BOB, OPS)
    assert [d["action"] for _, d in _refusals(service, request.id)] == ["approve"]


def test_allowed_decisions_write_no_refusal(rclient) -> None:
    service = _service(rclient)
    request = _pending(service)
    service.check_deny(request.id, BOB, OPS)
    service.cancel(request.id, ALICE)
    assert _refusals(service, request.id) == []
    assert service.store.require(request.id).state is State.CANCELLED
