"""The one table of request transitions, enforced by the store, and the worker-side use cases
that move a run through it (real Redis)."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import replace

import pytest

from workers.domain.config import load_config
from workers.domain.model import (
    ALLOWED_TRANSITIONS,
    Approval,
    ChangeKind,
    ChangeSpec,
    DomainSpec,
    HostPreflight,
    Request,
    State,
    may_transition,
)
from workers.domain.seal import ApprovalSealer
from workers.domain.service import RequestService
from workers.domain.store import IllegalTransition, RequestStore, TransitionRefused

S = State
ALLOWED = {
    (S.PENDING_APPROVAL, S.APPROVED),
    (S.PENDING_APPROVAL, S.QUEUED),
    (S.PENDING_APPROVAL, S.DENIED),
    (S.PENDING_APPROVAL, S.CANCELLED),
    (S.PENDING_APPROVAL, S.EXPIRED),
    (S.APPROVED, S.QUEUED),
    (S.APPROVED, S.CANCELLED),
    (S.QUEUED, S.RUNNING),
    (S.QUEUED, S.CANCELLED),
    (S.QUEUED, S.FAILED),
    (S.RUNNING, S.QUEUED),
    (S.RUNNING, S.PENDING_APPROVAL),
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),
    (S.FAILED, S.QUEUED),
}


class _NoDispatch:
    def __init__(self) -> None:
        self.runs: list[str] = []

    def preflight(self, request_id: str) -> None:
        return None

    def run(self, request_id: str) -> None:
        self.runs.append(request_id)


def _stored(
    store: RequestStore,
    state: State = State.PENDING_APPROVAL,
    approved_by: tuple[str, ...] = (),
    sealer: ApprovalSealer | None = None,
) -> Request:
    request = Request(
        id=store.next_id(),
        change=ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com"),)),
        requester="U01ALICE",
        channel="C01OPS",
        created_at=time.time(),
        state=state,
        request_hash="h1",
        approvals=[Approval(user, time.time(), "h1") for user in approved_by],
    )
    if sealer is not None:  # as the bot's approve does
        for approval in request.approvals:
            approval.seal = sealer.sign_approval(request, approval)
        request.approval_seal = sealer.seal(request)
    store.create(request, actor="U01ALICE")
    return request


@pytest.mark.parametrize(("old", "new"), list(itertools.product(State, State)))
def test_every_pair_is_allowed_or_refused_as_listed(old: State, new: State) -> None:
    expected = old is new or (old, new) in ALLOWED
    assert may_transition(old, new) is expected


def test_the_table_names_every_state_and_final_states_lead_nowhere_but_retry() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(State)
    assert {(o, n) for o, targets in ALLOWED_TRANSITIONS.items() for n in targets} == ALLOWED
    leaving_final = {(o, n) for o, n in ALLOWED if o.final}
    assert leaving_final == {(S.FAILED, S.QUEUED)}  # only a failed run is retried
    assert not ALLOWED_TRANSITIONS[S.CANCELLED]  # cancelled is final


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.CANCELLED, S.QUEUED),
        (S.PENDING_APPROVAL, S.RUNNING),
        (S.PENDING_APPROVAL, S.SUCCEEDED),
        (S.SUCCEEDED, S.QUEUED),
        (S.DENIED, S.QUEUED),
        (S.EXPIRED, S.PENDING_APPROVAL),
    ],
)
def test_store_refuses_an_illegal_transition_and_writes_nothing(rclient, old, new) -> None:
    store = RequestStore(rclient)
    request = _stored(store, old)
    raw_before = rclient.get(f"cs:req:{request.id}")
    events_before = rclient.xlen(store.events_key)

    def mutate(r: Request) -> str:
        r.state = new
        r.reason = "should never be saved"
        return "sneaky"

    with pytest.raises(IllegalTransition, match=f"cannot go from {old.value} to {new.value}"):
        store.update(request.id, mutate, actor="U09MALLORY")
    assert rclient.get(f"cs:req:{request.id}") == raw_before
    assert rclient.xlen(store.events_key) == events_before
    assert "sneaky" not in [e.name for e in store.events(request_id=request.id)]
    assert issubclass(IllegalTransition, TransitionRefused)  # the bot shows it, not a crash


def test_store_transition_helper_goes_through_the_table(rclient) -> None:
    store = RequestStore(rclient)
    request = _stored(store, S.CANCELLED)
    with pytest.raises(IllegalTransition):
        store.transition(request.id, [S.CANCELLED], S.QUEUED, event="retried", actor="U01ALICE")
    assert store.require(request.id).state is S.CANCELLED


def test_an_allowed_transition_and_staying_put_are_written(rclient) -> None:
    store = RequestStore(rclient)
    request = _stored(store)

    def note(r: Request) -> str:
        r.reason = "noted"
        return "noted"

    assert store.update(request.id, note, actor=None).state is S.PENDING_APPROVAL
    store.transition(request.id, [S.PENDING_APPROVAL], S.EXPIRED, event="expired", actor=None)
    assert store.require(request.id).state is S.EXPIRED
    assert [e.name for e in store.events(request_id=request.id)] == [
        "requested",
        "noted",
        "expired",
    ]


def test_a_run_moves_through_the_domain_use_cases(rclient) -> None:
    """What the engine used to do with its own closures: start, wait for a busy host, finish,
    and send back for approval; each one checks the state and is refused by the table else."""
    store = RequestStore(rclient)
    service = RequestService(store, load_config(), _NoDispatch())
    request = _stored(store, S.QUEUED, ("U02BOB",), service.sealer)

    started = service.start_run(request.id)
    assert started is not None and started.state is S.RUNNING and started.attempts == 1
    assert service.start_run(request.id).attempts == 2  # a redelivery resumes

    waiting = service.wait_for_hosts(request.id, {"SYNC01": "CS-0009"})
    assert waiting.state is S.QUEUED and "SYNC01 (busy with CS-0009)" in (waiting.reason or "")
    service.start_run(request.id)
    done = service.finish_run(
        request.id, S.FAILED, stopped_at="install", problems=["SYNC01: 1603"], data={}
    )
    assert done.state is S.FAILED and done.stopped_at == "install" and done.reason == "SYNC01: 1603"
    assert service.start_run(request.id) is None  # a finished run does not start again

    other = _stored(store, S.QUEUED, ("U02BOB",), service.sealer)
    service.start_run(other.id)
    back = service.send_back_for_approval(other.id, {"SYNC01": HostPreflight(ok=True)}, "newhash")
    assert back.state is S.PENDING_APPROVAL and back.request_hash == "newhash"
    assert back.approvals == [] and back.approval_seal == "" and back.expires_at is not None
    with pytest.raises(ValueError):
        service.finish_run(other.id, S.DENIED, stopped_at=None, problems=[], data={})

    names = [e.name for e in store.events(request_id=request.id)]
    assert names == ["requested", "started", "resumed", "waiting", "started", "finished"]
    finished = store.events(request_id=request.id)[-1]
    assert finished.data["state"] == "failed"
    assert json.loads(rclient.get(f"cs:req:{request.id}"))["state"] == "failed"


def test_recovery_queues_an_approved_request_once(rclient) -> None:
    store = RequestStore(rclient)
    service = RequestService(store, load_config(), _NoDispatch())
    request = _stored(store, S.APPROVED)
    assert service.queue_approved(request.id) is True
    assert service.queue_approved(request.id) is False
    assert store.require(request.id).state is S.QUEUED


@pytest.mark.parametrize(
    "approved_by",
    [(), ("U01ALICE",), ("U02BOB",)],  # none, only the requester, one of two
    ids=["none", "self", "one-of-two"],
)
def test_the_worker_refuses_to_start_a_run_without_complete_approvals(rclient, approved_by):
    """Defence in depth: however a request reached the queue, it does not start unless its
    approvals are complete under the current policy; it fails and the refusal is audited."""
    store = RequestStore(rclient)
    config = load_config()
    config = replace(config, policy=replace(config.policy, approvals_needed=2))
    service = RequestService(store, config, _NoDispatch())
    request = _stored(store, S.QUEUED, approved_by=approved_by)
    assert service.start_run(request.id) is None
    failed = store.require(request.id)
    assert failed.state is S.FAILED and failed.attempts == 0
    assert (failed.reason or "").startswith("refused by the worker:")
    refused = [e for e in store.events(request_id=request.id) if e.name == "refused"]
    assert len(refused) == 1 and refused[0].actor is None
    assert refused[0].data["action"] == "run"
    assert "of 2 approvals" in refused[0].data["reason"]
    assert "started" not in [e.name for e in store.events(request_id=request.id)]


def test_retry_needs_complete_approvals_and_cancelled_is_final(rclient) -> None:
    store = RequestStore(rclient)
    config = load_config()
    two = replace(config, policy=replace(config.policy, approvals_needed=2))
    dispatch = _NoDispatch()
    service = RequestService(store, two, dispatch)
    sealer = service.sealer
    cancelled = _stored(store, S.CANCELLED, ("U02BOB", "U03CAROL"), sealer)
    with pytest.raises(TransitionRefused, match="cancelled is final: submit a new request"):
        service.retry(cancelled.id, "U01ALICE", None)
    partial = _stored(store, S.FAILED, ("U02BOB",), sealer)
    with pytest.raises(TransitionRefused, match=r"1 of 2 approvals"):
        service.retry(partial.id, "U01ALICE", None)
    unsigned = _stored(store, S.FAILED, approved_by=("U02BOB", "U03CAROL"))
    with pytest.raises(TransitionRefused, match=r"0 of 2 approvals"):
        service.retry(unsigned.id, "U01ALICE", None)
    stale = _stored(store, S.FAILED, ("U02BOB", "U03CAROL"), sealer)
    store.update(stale.id, lambda r: setattr(r, "request_hash", "h2") or "rehashed", actor=None)
    with pytest.raises(TransitionRefused, match=r"0 of 2 approvals"):
        service.retry(stale.id, "U01ALICE", None)
    assert dispatch.runs == []
    complete = _stored(store, S.FAILED, ("U02BOB", "U03CAROL"), sealer)
    retried = service.retry(complete.id, "U01ALICE", "install")
    assert retried.state is S.QUEUED and retried.retry_from == "install"
    assert dispatch.runs == [complete.id]
    assert sealer.refusal(retried) is None, "the retry re-sealed the step to start from"
    assert service.run_refusal(retried) is None
