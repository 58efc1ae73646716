"""Known secrets never appear in what the target host logged (script blocks, process command
lines), in Celery messages or anything else sent to Redis, in Redis itself, in the logs, or in
anything sent to Slack."""

from __future__ import annotations

import json
import logging

import pytest

from tests.e2e.harness import DEMO, E2EStack
from tests.e2e.secret_scan import forms, redis_contents
from workers.domain.model import State


def _secret_values() -> list[str]:
    values = [p.read_text() for p in sorted((DEMO / "secrets").glob("*.txt"))]
    assert len(values) >= 6 and all(len(v) >= 8 for v in values)
    assert (DEMO / "secrets" / "fileshare_reader.txt").read_text() in values  # share credential
    return values


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture()
def captured_logs():  # type: ignore[no-untyped-def]
    handler = _Capture()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)


def test_no_secret_anywhere(e2e: E2EStack, captured_logs: _Capture) -> None:
    request = e2e.submit(
        "alice",
        "install SECRET01 --domain contoso.com --domain fabrikam.com --writeback "
        "--permissions BasicRead",
    )
    assert e2e.click("carol", "approve", request.id).status_code == 200
    done = e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED, timeout=60)
    assert done.state is State.SUCCEEDED, done.reason
    # a failing sign-in too: error texts and hints must not carry secrets either
    mfa = e2e.submit("alice", "install MFA01 --domain contoso.com")
    assert e2e.click("bob", "approve", mfa.id).status_code == 200
    failed = e2e.wait_state(mfa.id, State.FAILED, State.SUCCEEDED, timeout=60)
    assert failed.state is State.FAILED
    # share staging: the share credential travels as a secret frame (preflight and stage)
    shared = e2e.submit("alice", "install SHARE02 --domain contoso.com")
    assert e2e.click("bob", "approve", shared.id).status_code == 200
    staged = e2e.wait_state(shared.id, State.SUCCEEDED, State.FAILED, timeout=60)
    assert staged.state is State.SUCCEEDED, staged.reason
    e2e.wait_quiet()
    share_events = [e["event"] for e in e2e.sim_host("SHARE02").record.to_dict()["events"]]
    assert "share_mapped" in share_events, "the share credential was used"

    places: dict[str, str] = {}
    record = e2e.sim_host("SECRET01").record.to_dict()
    assert record["script_blocks"] and record["command_lines"] and record["module_log"]
    for name in ("SECRET01", "MFA01", "SHARE02"):
        rec = e2e.sim_host(name).record.to_dict()
        places[f"{name} script blocks"] = "\n".join(rec["script_blocks"])
        places[f"{name} command lines"] = "\n".join(rec["command_lines"])
        places[f"{name} module log (event 4103)"] = json.dumps(rec["module_log"])
    places["redis commands (celery messages included)"] = "\n".join(e2e.monitor_lines)
    assert any("cloudsync.run_request" in line for line in e2e.monitor_lines)
    places["redis contents"] = redis_contents(e2e.redis_url)
    places["worker log"] = e2e.worker_log.read_text(errors="replace")
    places["bot log"] = "\n".join(captured_logs.lines)
    places["slack calls"] = json.dumps([c.to_dict() for c in e2e.slack.calls], default=str)

    for secret in _secret_values():
        for form in forms(secret):
            for where, text in places.items():
                assert form not in text, f"a secret appeared in {where}"
