"""The HTTP front door (issue 13, attacks 5 and 8), through the same WSGI stack HTTP mode serves
(bot.http_guard in front of Bolt) on the shared real stack: the replay guard remembers a
signature for its whole validity window and fails closed when Redis cannot answer; the body is
capped and its signature checked on the raw bytes before anything parses it; a refused request
is logged in one line without its body."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import redis
import requests

from bot.app import REPLAY_WINDOW_S, SIGNATURE_VALIDITY_S, TRY_AGAIN
from bot.http_guard import MAX_BODY_BYTES
from bot.local.signing import signed_headers
from tests.e2e.harness import E2EStack
from tests.e2e.security_helpers import diff, host_activity, redis_state
from tests.e2e.slack_helpers import ack_text
from workers.domain.model import State

HELP = "command=%2Fcloudsync&text=help&user_id=U01ALICE&channel_id=C01OPS&team_id=T01DEMO"
MARKER = "UNSIGNED-BODY-MARKER"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.lines.append(record.getMessage() + (record.exc_text or ""))


@pytest.fixture()
def logs() -> Iterator[_Records]:
    handler = _Records()
    loggers = [logging.getLogger(n) for n in ("", "slack_bolt")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for lg, level in saved:
            lg.removeHandler(handler)
            lg.setLevel(level)


def _approve_body(e2e: E2EStack, request_id: str, user: str = "U02BOB") -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "bob", "team_id": "T01DEMO"},
        "channel": {"id": "C01OPS"},
        "container": {"type": "message", "channel_id": "C01OPS"},
        "actions": [{"action_id": "approve", "value": request_id, "type": "button"}],
        "response_url": e2e.slack.response_url(f"{user}-replay"),
    }
    return urlencode({"payload": json.dumps(payload)})


# --- replay guard (attack 5) ------------------------------------------------------------------
def test_a_signature_is_remembered_for_its_whole_validity_window(e2e: E2EStack) -> None:
    assert REPLAY_WINDOW_S >= SIGNATURE_VALIDITY_S + 60
    # signed at the far edge Slack's verifier accepts: valid for another 300 s from now
    headers = signed_headers(e2e.local.signing_secret, HELP, timestamp=int(time.time()) + 290)
    assert e2e.post(HELP, headers=headers).status_code == 200
    signature = next(v for k, v in headers.items() if k.lower() == "x-slack-signature")
    key = f"{e2e.store.prefix}:seen-signature:{signature}"
    assert e2e.store.redis.ttl(key) >= SIGNATURE_VALIDITY_S
    assert e2e.post(HELP, headers=headers).status_code == 401


def test_the_replay_guard_fails_closed_when_redis_cannot_answer(e2e: E2EStack) -> None:
    request = e2e.submit("alice", "install SYNC01 --domain contoso.com")
    e2e.wait_quiet()
    hosts, state = host_activity(e2e), redis_state(e2e)
    command = signed_headers(e2e.local.signing_secret, HELP)
    click_body = _approve_body(e2e, request.id)
    click = signed_headers(e2e.local.signing_secret, click_body)
    admin = redis.Redis.from_url(e2e.redis_url)
    admin.client_pause(2000, all=False)
    try:
        answer = e2e.post(HELP, headers=command)
        refused_click = e2e.post(click_body, headers=click)
    finally:
        admin.client_unpause()
        admin.close()
    assert answer.status_code == 200 and ack_text(answer) == TRY_AGAIN
    assert answer.json()["response_type"] == "ephemeral"
    assert refused_click.status_code == 503  # retryable: Slack shows the click failed
    time.sleep(0.5)
    assert e2e.store.get(request.id).state is State.PENDING_APPROVAL
    assert host_activity(e2e) == hosts
    changed = diff(state, redis_state(e2e))
    assert not changed, changed
    # the refused requests were not remembered: sent again once Redis answers, they count
    assert "/cloudsync" in ack_text(e2e.post(HELP, headers=command))
    assert e2e.post(click_body, headers=click).status_code == 200
    e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED)


# --- signature before parsing, body cap (attack 8) --------------------------------------------
def test_unsigned_deeply_nested_json_is_refused_before_parsing(
    e2e: E2EStack, logs: _Records
) -> None:
    body = '{"x":' * 50_000 + f'"{MARKER}"' + "}" * 50_000
    response = requests.post(
        e2e.url, data=body.encode(), headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 401
    forged = signed_headers("not-the-secret", body)
    forged["Content-Type"] = "application/json"
    assert e2e.post(body, headers=forged).status_code == 401
    refusals = [line for line in logs.lines if "refused Slack request" in line]
    assert len(refusals) == 2 and all("\n" not in line for line in refusals)
    assert not [line for line in logs.lines if MARKER in line], "a refused body was logged"
    assert not [line for line in logs.lines if "RecursionError" in line]


def test_an_unsigned_form_body_is_not_logged(e2e: E2EStack, logs: _Records) -> None:
    body = HELP.replace("help", MARKER)
    assert e2e.post(body, headers=signed_headers("wrong", body)).status_code == 401
    assert not [line for line in logs.lines if MARKER in line]


def test_an_oversized_body_gets_413_signed_or_not(e2e: E2EStack, logs: _Records) -> None:
    body = "payload=" + "x" * (MAX_BODY_BYTES + 1)
    assert e2e.post(body, headers=signed_headers(e2e.local.signing_secret, body)).status_code == (
        413
    )
    assert e2e.post(body, headers={}).status_code == 413
    # a body without Content-Length (chunked) on a server that does not end the stream
    response = requests.post(e2e.url, data=iter([b"payload=", b"x" * 1024]), headers={}, timeout=10)
    assert response.status_code == 411
    assert not [line for line in logs.lines if "x" * 200 in line]


def test_a_signed_body_below_the_cap_still_works(e2e: E2EStack) -> None:
    response = e2e.post(HELP)
    assert response.status_code == 200 and "/cloudsync" in ack_text(response)
