"""The request store: atomic transitions, events, step results, fencing."""

from __future__ import annotations

import threading
import time

import pytest

from workers.domain.model import (
    ChangeKind,
    ChangeSpec,
    DomainSpec,
    Request,
    State,
    StepResult,
    StepStatus,
)
from workers.domain.store import FenceLost, RequestStore, TransitionRefused


def _request(store: RequestStore) -> Request:
    request = Request(
        id=store.next_id(),
        change=ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com"),)),
        requester="U01ALICE",
        channel="C01OPS",
        created_at=time.time(),
    )
    store.create(request, actor="U01ALICE")
    return request


def test_ids_are_short_and_sequential(rclient):
    store = RequestStore(rclient)
    assert [store.next_id() for _ in range(3)] == ["CS-0001", "CS-0002", "CS-0003"]


def test_create_get_roundtrip_and_event(rclient):
    store = RequestStore(rclient)
    request = _request(store)
    loaded = store.get(request.id)
    assert loaded is not None and loaded.change == request.change
    assert [e.name for e in store.events(request_id=request.id)] == ["requested"]
    assert store.recent_in_channel("C01OPS")[0].id == request.id


def test_transition_settles_once_under_concurrency(rclient):
    store = RequestStore(rclient)
    request = _request(store)
    wins: list[str] = []
    refusals: list[str] = []

    def attempt(user: str) -> None:
        try:
            store.transition(
                request.id, [State.PENDING_APPROVAL], State.QUEUED, event="approved", actor=user
            )
            wins.append(user)
        except TransitionRefused as exc:
            refusals.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(f"U{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(refusals) == 7
    assert [e.name for e in store.events(request_id=request.id)].count("approved") == 1


def test_step_results_saved_and_fenced(rclient):
    store = RequestStore(rclient)
    request = _request(store)
    result = StepResult("SYNC01", "install", "Install", StepStatus.DONE, 1.0, 2.0, "ok")
    store.save_step(request.id, result, fence=7)
    assert store.load_steps(request.id, "SYNC01")["install"].summary == "ok"
    store.save_step(request.id, result, fence=8)  # a newer lease holder took over
    with pytest.raises(FenceLost):
        store.save_step(request.id, result, fence=7)


def test_save_steps_writes_in_order_in_one_call_only_while_the_guards_hold(rclient):
    """A finished step and the next one's start are saved together, with the caller's leases
    checked in the same atomic call; a lease that changed hands means nothing is written."""
    store = RequestStore(rclient)
    request = _request(store)
    rclient.set("cs:lease:host:SYNC01", "CS-0001|3")
    guards = [("cs:lease:host:SYNC01", "CS-0001|3")]
    done = StepResult("SYNC01", "install", "Install", StepStatus.DONE, 1.0, 2.0, "installed")
    started = StepResult("SYNC01", "import", "Import", StepStatus.RUNNING, 2.0)
    store.save_steps(request.id, [done, started], fence=3, guards=guards)
    saved = store.load_steps(request.id, "SYNC01")
    assert saved["install"].status is StepStatus.DONE
    assert saved["import"].status is StepStatus.RUNNING
    events = [e for e in store.events(request_id=request.id) if e.name.startswith("step_")]
    assert [(e.name, e.data["step"]) for e in events] == [
        ("step_finished", "install"),
        ("step_started", "import"),
    ]

    rclient.set("cs:lease:host:SYNC01", "CS-0002|4")  # another worker took the host over
    finished = StepResult("SYNC01", "import", "Import", StepStatus.DONE, 2.0, 3.0, "imported")
    with pytest.raises(FenceLost, match="no longer held"):
        store.save_steps(request.id, [finished], fence=3, guards=guards)
    rclient.delete("cs:lease:host:SYNC01")  # or the lease expired
    with pytest.raises(FenceLost):
        store.save_steps(request.id, [finished], fence=3, guards=guards)
    assert store.load_steps(request.id, "SYNC01")["import"].status is StepStatus.RUNNING
    assert len([e for e in store.events(request_id=request.id) if e.name.startswith("step_")]) == 2


def test_save_steps_takes_one_host_at_a_time(rclient):
    store = RequestStore(rclient)
    request = _request(store)
    one = StepResult("SYNC01", "install", "Install", StepStatus.RUNNING, 1.0)
    other = StepResult("SYNC02", "install", "Install", StepStatus.RUNNING, 1.0)
    with pytest.raises(ValueError):
        store.save_steps(request.id, [one, other], fence=1)
