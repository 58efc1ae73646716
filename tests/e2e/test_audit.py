"""The audit trail: ``/cloudsync status ID`` shows it in Slack, and ``cloudsync audit`` prints it as
JSON lines or CSV from the bot's Redis (the CLI run as a separate process, as an admin would)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.harness import CHANNEL, USERS, E2EStack
from tests.e2e.slack_helpers import cli_env, mark, reply_to
from tests.support import eventually
from workers.domain.model import State


def _audit(e2e: E2EStack, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cloudsync = Path(sys.executable).parent / "cloudsync"
    return subprocess.run(
        [str(cloudsync), "audit", *args],
        capture_output=True,
        text=True,
        env=cli_env(e2e, tmp_path / "cli"),
        timeout=60,
    )


def test_status_and_audit_cli_show_the_trail(e2e: E2EStack, tmp_path: Path) -> None:
    request = e2e.submit("alice", "install SYNC02 --domain fabrikam.com")
    assert e2e.click("carol", "deny", request.id).status_code == 200
    assert e2e.submit_deny("carol", request.id, "wrong domain").status_code == 200
    e2e.wait_state(request.id, State.DENIED)

    seen = mark(e2e, "bob")
    assert e2e.slash("bob", f"status {request.id}").status_code == 200
    trail = reply_to(e2e, "bob", "History", after=seen)
    assert "requested by <@U01ALICE>" in trail
    assert "denied by <@U03CAROL>" in trail
    assert "wrong domain" in trail
    assert re.search(r"Denied by <@U03CAROL> at \d{4}-\d\d-\d\dT[\d:.]+Z", trail), trail

    done = _audit(e2e, tmp_path, "--request", request.id)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert lines, "one JSON object per line"
    assert {line["request"] for line in lines} == {request.id}
    names = [line["event"] for line in lines]
    assert names[0] == "requested" and names[-1] == "denied", names
    assert "preflight" in names
    denied = lines[-1]
    assert denied["actor"] == USERS["carol"]
    assert denied["data"]["reason"] == "wrong domain"
    assert denied["data"]["plan_hash"] == e2e.store.get(request.id).request_hash
    assert denied["data"]["approvers"] == []
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    assert all(iso.match(line["at"]) for line in lines), [line["at"] for line in lines]
    assert [line["at"] for line in lines] == sorted(line["at"] for line in lines)

    # the requester is told in the channel, by mention, who denied it and why
    def denial_told() -> bool:
        return any(
            (m.text or "").startswith(f"<@{USERS['alice']}> {request.id}") and m.reply_broadcast
            for m in e2e.slack.messages(CHANNEL)
        )

    eventually(denial_told, what="the denial's channel reply", timeout=30)

    # --format csv: a header row, then the same events, data as a JSON string column
    table = _audit(e2e, tmp_path, "--request", request.id, "--format", "csv")
    assert table.returncode == 0, table.stderr
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [row["event"] for row in rows] == names
    assert json.loads(rows[-1]["data"])["reason"] == "wrong domain"
    assert rows[-1]["at"] == denied["at"]

    # --since: a date after everything prints nothing; a bad date is a clear error (exit 2)
    later = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1).date().isoformat()
    assert _audit(e2e, tmp_path, "--since", later).stdout.strip() == ""
    bad = _audit(e2e, tmp_path, "--since", "yesterday")
    assert bad.returncode == 2 and "not an ISO date" in bad.stderr


def test_refused_decisions_are_in_the_audit_trail(e2e: E2EStack, tmp_path: Path) -> None:
    """Self-approval, a stranger's approval and deny, a cancel and a retry by the wrong person,
    a retry of a cancelled request: each refusal is a ``refused`` event (who, what, why) that
    ``cloudsync audit`` prints, and none of them changes the request."""
    request = e2e.submit("alice", "install SYNC02 --domain contoso.com")
    attempts = [
        ("alice", lambda: e2e.click("alice", "approve", request.id), "approve"),
        ("mallory", lambda: e2e.click("mallory", "approve", request.id), "approve"),
        ("mallory", lambda: e2e.click("mallory", "deny", request.id), "deny"),
        ("alice", lambda: e2e.click("alice", "deny", request.id), "deny"),
        ("mallory", lambda: e2e.slash("mallory", f"cancel {request.id}"), "cancel"),
        ("mallory", lambda: e2e.slash("mallory", f"retry {request.id}"), "retry"),
    ]
    for user, attempt, _ in attempts:
        seen = mark(e2e, user)
        assert attempt().status_code == 200
        reply_to(e2e, user, request.id, after=seen)  # the refusal was shown
    assert e2e.store.get(request.id).state is State.PENDING_APPROVAL
    assert e2e.slash("alice", f"cancel {request.id}").status_code == 200
    e2e.wait_state(request.id, State.CANCELLED)
    seen = mark(e2e, "alice")
    assert e2e.slash("alice", f"retry {request.id}").status_code == 200
    reply_to(e2e, "alice", "cancelled is final", after=seen)
    attempts.append(("alice", lambda: None, "retry"))

    done = _audit(e2e, tmp_path, "--request", request.id)
    assert done.returncode == 0, done.stderr
    refused = [
        line
        for line in (json.loads(raw) for raw in done.stdout.splitlines() if raw.strip())
        if line["event"] == "refused"
    ]
    assert [(line["actor"], line["data"]["action"]) for line in refused] == [
        (USERS[user], action) for user, _, action in attempts
    ]
    reasons = [line["data"]["reason"] for line in refused]
    assert "a different approver must approve it" in reasons[0]
    assert "You cannot approve" in reasons[1]
    assert "You cannot deny" in reasons[2]
    assert "use Cancel" in reasons[3]
    assert "Only the requester or an approver can cancel" in reasons[4]
    assert "only a failed run can be retried" in reasons[5]
    assert "cancelled is final" in reasons[6]
    # besides who, what and why: the plan hash and the approvers (none yet) of the request
    assert all(
        set(line["data"]) == {"action", "reason", "plan_hash", "approvers"} for line in refused
    )


def test_a_runs_step_events_name_the_plan_hash_and_the_approvers(
    e2e: E2EStack, tmp_path: Path
) -> None:
    """README: every decision and run event names the approved plan hash and the approvers;
    the step events of a real run too, in both formats of ``cloudsync audit``. Their actor is
    empty (the worker acts for the approvers, who are named)."""
    request = e2e.submit("alice", "install SYNC01 --domain contoso.com")
    assert e2e.click("bob", "approve", request.id).status_code == 200
    done = e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED, timeout=180)
    assert done.state is State.SUCCEEDED, done.reason

    out = _audit(e2e, tmp_path, "--request", request.id)
    assert out.returncode == 0, out.stderr
    steps = [
        line
        for line in map(json.loads, out.stdout.splitlines())
        if line["event"] in ("step_started", "step_finished")
    ]
    assert {line["event"] for line in steps} == {"step_started", "step_finished"}
    for line in steps:
        assert line["data"]["plan_hash"] == done.request_hash, line
        assert line["data"]["approvers"] == [USERS["bob"]], line
        assert line["data"]["host"] == "SYNC01" and line["data"]["step"], line
        assert line["actor"] is None, line

    table = _audit(e2e, tmp_path, "--request", request.id, "--format", "csv")
    assert table.returncode == 0, table.stderr
    rows = [r for r in csv.DictReader(io.StringIO(table.stdout)) if r["event"] == "step_finished"]
    assert rows and all(
        json.loads(r["data"])["plan_hash"] == done.request_hash
        and json.loads(r["data"])["approvers"] == [USERS["bob"]]
        and r["actor"] == ""
        for r in rows
    )
