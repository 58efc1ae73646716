"""`/cloudsync status ID`: its history reads as host, step and status with every decision kept,
and a host whose steps have not started says why (waiting for approval), not "⏳ 0/5 steps"."""

from __future__ import annotations

import time
from typing import Any

from bot import blocks as B
from bot.blocks.history import history_lines
from bot.blocks.words import counted_steps
from workers.domain.model import (
    ChangeKind,
    ChangeSpec,
    DomainSpec,
    Request,
    State,
    StepResult,
    StepStatus,
)
from workers.domain.store import RequestStore
from workers.runbook.progress import RedisProgress

PLAN = [("preflight", "Preflight"), ("stage", "Stage"), ("install", "Install")]


def _request(state: State = State.PENDING_APPROVAL, request_id: str = "CS-0001") -> Request:
    return Request(
        id=request_id,
        change=ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com"),)),
        requester="U01ALICE",
        channel="C01OPS",
        created_at=time.time(),
        expires_at=time.time() + 600,
        state=state,
        request_hash="h1",
    )


def _step_event(name: str, step: str, status: str, at: float) -> dict[str, Any]:
    data = {"host": "SYNC01", "step": step, "status": status}
    return {"event": name, "request": "CS-0001", "actor": None, "at": at, "data": data}


def test_a_runs_history_names_host_step_and_status_from_the_real_trail(rclient: Any) -> None:
    """Events as the worker writes them (real Redis) and `status` reads them (to_dict)."""
    store = RequestStore(rclient)
    request = _request(State.RUNNING, store.next_id())
    store.create(request, actor="U01ALICE")
    progress = RedisProgress(store)
    t = 1_796_119_798.0
    preflight = StepResult("SYNC01", "preflight", "Preflight", StepStatus.RUNNING, t)
    progress.save_steps(request.id, [preflight], fence=1)
    done = StepResult("SYNC01", "preflight", "Preflight", StepStatus.DONE, t, t + 5, "ok")
    stage = StepResult("SYNC01", "stage", "Stage", StepStatus.RUNNING, t + 5)
    progress.save_steps(request.id, [done, stage], fence=1)
    events = [e.to_dict() for e in store.events(request_id=request.id)]
    text = "\n".join(history_lines(events))
    assert "requested by <@U01ALICE>" in text
    assert "SYNC01 preflight: done (" in text and " s)" in text
    assert "SYNC01 stage: running" in text
    assert "step_started" not in text and "step_finished" not in text
    assert "SYNC01 preflight: running" not in text  # folded into its finished line


def test_a_finished_step_is_one_line_with_its_duration() -> None:
    t = 1_796_119_798.0
    events = [
        {"event": "approved", "actor": "U02BOB", "at": "2026-12-01T10:09:50.000Z"},
        _step_event("step_started", "install", "running", t),
        _step_event("step_finished", "install", "done", t + 5),
        _step_event("step_started", "import", "running", t + 5),
        _step_event("step_finished", "import", "failed", t + 7.5),
    ]
    lines = history_lines(events)
    assert lines[0] == "• 2026-12-01T10:09:50.000Z approved by <@U02BOB>"
    assert lines[1].endswith(" SYNC01 install: done (5.0 s)")
    assert lines[2].endswith(" SYNC01 import: failed (2.5 s)")
    assert len(lines) == 3


def test_a_long_run_keeps_every_decision_and_the_newest_steps() -> None:
    t = 1_796_119_798.0
    events: list[dict[str, Any]] = [
        {"event": "requested", "actor": "U01ALICE", "at": t - 20},
        {"event": "approved", "actor": "U02BOB", "at": t - 10},
        {"event": "started", "at": t - 5},
    ]
    for i in range(40):
        events.append(_step_event("step_started", f"s{i:02d}", "running", t + i))
        if i == 20:
            events.append({"event": "cancel_requested", "actor": "U03CAROL", "at": t + i})
        events.append(_step_event("step_finished", f"s{i:02d}", "done", t + i + 0.5))
    events.append({"event": "finished", "at": t + 50})
    lines = history_lines(events, max_steps=15)
    assert lines[0] == "… 25 earlier step lines not shown"
    text = "\n".join(lines)
    for name in ("requested by", "approved by", "started", "cancel_requested by", "finished"):
        assert name in text, name
    steps = [line for line in lines if " SYNC01 " in line]
    assert len(steps) == 15 and steps[-1].endswith("SYNC01 s39: done (0.5 s)")
    assert steps[0].endswith("SYNC01 s25: done (0.5 s)")
    assert lines[-1].endswith("finished")


def test_status_of_a_long_run_stays_within_the_limit_and_keeps_decisions() -> None:
    t = 1_796_119_798.0
    events: list[dict[str, Any]] = [{"event": "requested", "actor": "U01ALICE", "at": t}]
    for i in range(500):
        events.append(_step_event("step_started", f"step{i}", "running", t + i))
        events.append(_step_event("step_finished", f"step{i}", "done", t + i + 1))
    text = B.status_text(_request(State.SUCCEEDED), {}, events)
    assert "requested by <@U01ALICE>" in text and "SYNC01 step499: done (1.0 s)" in text
    assert "… 485 earlier step lines not shown" in text
    assert text.count("\n• ") <= 20


def test_a_pending_request_says_it_waits_for_approval_not_that_it_runs() -> None:
    request = _request(State.PENDING_APPROVAL)
    steps = counted_steps({"SYNC01": PLAN}, {}, ["SYNC01"])
    text = B.status_text(request, steps)
    assert "🕓 *SYNC01* — waiting for approval (3 steps planned)" in text
    assert "⏳" not in text and "0/3 steps" not in text
    queued = B.status_text(_request(State.QUEUED), steps)
    # queued: the card's own count (the status and the card agree), under the queued symbol
    assert "📥 *SYNC01* — 0/3 steps, queued, waiting for a worker" in queued
    denied = B.status_text(_request(State.DENIED), steps)
    assert "⛔ *SYNC01* — denied: no step ran" in denied


def test_a_running_request_keeps_its_step_count() -> None:
    started = StepResult("SYNC01", "preflight", "Preflight", StepStatus.RUNNING, 1.0)
    steps = counted_steps({"SYNC01": PLAN}, {"SYNC01": [started]}, ["SYNC01"])
    assert "⏳ *SYNC01* — 0/3 steps" in B.status_text(_request(State.RUNNING), steps)
    nothing_yet = counted_steps({"SYNC01": PLAN}, {}, ["SYNC01"])
    assert "⏳ *SYNC01* — 0/3 steps" in B.status_text(_request(State.RUNNING), nothing_yet)
