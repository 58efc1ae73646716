"""What an auditor reads (real Redis): ISO-8601 UTC times, the approved plan hash and the
approvers on every decision and run event, CSV next to JSON lines, retention by age with the
trim itself audited, who approved in ``status``, and the requester mentioned on deny."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest

from bot.blocks import status_text, summary
from bot.cli import main, package_version, write_audit
from workers.domain.config import load_config
from workers.domain.model import (
    ChangeKind,
    ChangeSpec,
    DomainSpec,
    Request,
    State,
    StepResult,
    StepStatus,
)
from workers.domain.service import RequestService
from workers.domain.store import DAY_S, RequestStore, iso_utc
from workers.runbook.progress import RedisProgress
from workers.settings import Settings

ALICE, BOB, CAROL = "U01ALICE", "U02BOB", "U03CAROL"
OPS = "C01OPS"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class _NoDispatch:
    def preflight(self, request_id: str) -> None:
        return None

    def run(self, request_id: str) -> None:
        return None


def _service(rclient) -> RequestService:
    return RequestService(RequestStore(rclient), load_config(), _NoDispatch())


def _pending(store: RequestStore) -> Request:
    request = Request(
        id=store.next_id(),
        change=ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com"),)),
        requester=ALICE,
        channel=OPS,
        created_at=time.time(),
        expires_at=time.time() + 600,
        request_hash="h1",
    )
    store.create(request, actor=ALICE)
    return request


def test_iso_utc_has_milliseconds_and_a_z() -> None:
    assert iso_utc(1796119798.123456) == "2026-12-01T10:09:58.123Z"
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"


def test_an_event_stored_the_old_way_prints_an_iso_time(rclient) -> None:
    store = RequestStore(rclient)
    rclient.xadd(  # the stored form is unchanged: epoch seconds as text
        store.events_key,
        {"event": "requested", "request": "CS-0001", "actor": ALICE, "at": "1796119798.5"},
    )
    (event,) = store.events()
    assert event.to_dict()["at"] == "2026-12-01T10:09:58.500Z"
    assert event.to_dict()["event"] == "requested" and "data" not in event.to_dict()


def test_decision_and_run_events_carry_the_plan_hash_and_approvers(rclient) -> None:
    service = _service(rclient)
    store = service.store
    request = _pending(store)
    service.approve(request.id, BOB, OPS)
    assert store.require(request.id).state is State.QUEUED
    assert service.start_run(request.id) is not None
    service.send_back_for_approval(request.id, {}, "h2")  # the server changed: reapproval
    events = {e.name: e.data for e in store.events(request_id=request.id)}
    assert events["approved"]["plan_hash"] == "h1"
    assert events["approved"]["approvers"] == [BOB]
    assert events["started"]["plan_hash"] == "h1" and events["started"]["approvers"] == [BOB]
    reapproval = events["reapproval"]
    assert reapproval["plan_hash"] == "h2"
    assert reapproval["approved_plan_hash"] == "h1" and reapproval["approvers"] == [BOB]


def test_a_denial_carries_the_plan_hash_and_keeps_its_reason(rclient) -> None:
    service = _service(rclient)
    request = _pending(service.store)
    service.deny(request.id, CAROL, OPS, "wrong domain")
    (denied,) = [e for e in service.store.events(request_id=request.id) if e.name == "denied"]
    assert denied.data == {"approvers": [], "plan_hash": "h1", "reason": "wrong domain"}


def test_audit_csv_has_a_header_and_one_row_per_event(rclient) -> None:
    service = _service(rclient)
    request = _pending(service.store)
    service.deny(request.id, CAROL, OPS, 'no, "really"')
    events = service.store.events(request_id=request.id)
    out = io.StringIO()
    write_audit(events, "csv", out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["id", "at", "event", "request", "actor", "data"]
    assert len(rows) == 1 + len(events)
    last = dict(zip(rows[0], rows[-1], strict=True))
    assert last["event"] == "denied" and last["actor"] == CAROL and ISO.match(last["at"])
    assert json.loads(last["data"])["reason"] == 'no, "really"'
    jsonl = io.StringIO()
    write_audit(events, "jsonl", jsonl)
    lines = [json.loads(line) for line in jsonl.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [row[2] for row in rows[1:]]
    assert all(ISO.match(line["at"]) for line in lines)


def test_trimming_by_age_is_itself_audited(rclient) -> None:
    store = RequestStore(rclient)
    now = time.time()
    old_ms = int((now - 500 * DAY_S) * 1000)
    for i in range(3):  # ids are the server's milliseconds: these three are 500 days old
        rclient.xadd(
            store.events_key,
            {"event": "requested", "request": f"CS-{i}", "actor": "", "at": repr(now), "data": ""},
            id=f"{old_ms + i}-0",
        )
    store.record("", "notice", actor=None, data={"text": "recent"})
    assert store.trim_events(400, now=now) == 3
    names = [e.name for e in store.events()]
    assert names == ["notice", "audit_trimmed"]
    trimmed = store.events()[-1].data
    assert trimmed["removed"] == 3 and trimmed["retention_days"] == 400
    assert trimmed["before"] == iso_utc(int((now - 400 * DAY_S) * 1000) / 1000)
    assert store.trim_events(400, now=now) == 0  # nothing older: nothing recorded
    assert len(store.events()) == 2


def test_retention_is_a_setting_with_a_400_day_default() -> None:
    assert Settings.from_env({}).audit_retention_days == 400
    assert Settings.from_env({"CLOUDSYNC_AUDIT_RETENTION_DAYS": "30"}).audit_retention_days == 30


def test_status_shows_who_approved_and_when(rclient) -> None:
    service = _service(rclient)
    request = _pending(service.store)
    service.approve(request.id, BOB, OPS)
    approved = service.store.require(request.id)
    text = status_text(approved, {})
    line = next(x for x in text.splitlines() if x.startswith("Approved by"))
    assert f"<@{BOB}>" in line and iso_utc(approved.approvals[0].at) in line
    assert "`h1`" in line


def test_the_denied_requester_is_mentioned(rclient) -> None:
    service = _service(rclient)
    request = _pending(service.store)
    denied = service.deny(request.id, CAROL, OPS, "wrong domain")
    text, body = summary(denied, {}, denied.requester)
    assert text.startswith(f"<@{ALICE}>") and "denied" in text
    shown = json.dumps(body)
    assert f"<@{ALICE}>" in shown and f"<@{CAROL}>" in shown and "wrong domain" in shown


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    printed = capsys.readouterr().out.strip()
    assert printed == f"cloudsync {package_version()}"
    assert re.match(r"^\d+\.\d+\.\d+", package_version())


def test_step_events_carry_the_plan_hash_and_approvers(rclient) -> None:
    """The worker's progress sink writes the step events: each names the approved plan hash
    and the approver ids, read from the request in the same atomic save; the actor is empty."""
    service = _service(rclient)
    store = service.store
    request = _pending(store)
    service.approve(request.id, BOB, OPS)
    assert service.start_run(request.id) is not None
    started = StepResult("SYNC01", "install", "Install", StepStatus.RUNNING, 1.0)
    done = StepResult("SYNC01", "install", "Install", StepStatus.DONE, 1.0, 6.0, "installed")
    RedisProgress(store).save_steps(request.id, [started], fence=1)
    RedisProgress(store).save_steps(request.id, [done], fence=1)
    steps = [e for e in store.events(request_id=request.id) if e.name.startswith("step_")]
    assert [e.name for e in steps] == ["step_started", "step_finished"]
    for event in steps:
        assert event.data == {
            "approvers": [BOB],
            "host": "SYNC01",
            "plan_hash": "h1",
            "status": event.data["status"],
            "step": "install",
        }
        assert event.actor is None
    out = io.StringIO()
    write_audit(steps, "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [json.loads(r["data"])["plan_hash"] for r in rows] == ["h1", "h1"]
    assert [json.loads(r["data"])["approvers"] for r in rows] == [[BOB], [BOB]]
