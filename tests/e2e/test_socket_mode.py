"""Socket Mode end to end (issue 14, point 12), the default deployment behind a firewall: the bot
runs as `cloudsync run` in a process of its own with SLACK_APP_TOKEN, so Bolt's built-in Socket
Mode client (slack_sdk's, unmodified) opens its connection through apps.connections.open on the
loopback Slack server; the request, the card, the approval, the run (a real Celery worker over
WinRM to the simulated host) and the replies in the thread all travel over that WebSocket and
the Web API. Then a refresh mid-session, and SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from bot.local import payloads
from bot.local.bot import workspace_channels
from bot.local.child_process import ends_with_parent
from bot.local.redis_embedded import EmbeddedRedis
from simulator.slack_api import LoopbackSlack, Message
from simulator.slack_socket import Envelope
from tests.e2e.harness import CHANNEL, USERS, WORKER_ENV, make_config_dir
from tests.e2e.slack_helpers import buttons
from tests.support import eventually
from workers import redis_connect
from workers.domain.config import REPO_ROOT, load_config
from workers.domain.model import Request, State
from workers.domain.store import RequestStore

APP_TOKEN = "xapp-1-A01CLOUDSYNC-1-socket-e2e"
BOT_TOKEN = "xoxb-socket-e2e"


@dataclass
class SocketStack:
    slack: LoopbackSlack
    store: RequestStore
    bot: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def slash(self, user: str, text: str) -> Envelope:
        fields = payloads.slash_command(
            user_id=USERS[user],
            user_name=user,
            channel_id=CHANNEL,
            channel_name="ops",
            text=text,
            response_url=self.slack.response_url(f"{USERS[user]}-{time.time()}"),
        )
        return self.slack.socket_mode.slash_command(dict(parse_qsl(fields)))

    def click(self, user: str, action_id: str, card: Message) -> Envelope:
        value = next(b["value"] for b in buttons(card) if b["action_id"] == action_id)
        body = payloads.button_click(
            user_id=USERS[user],
            user_name=user,
            channel_id=CHANNEL,
            channel_name="ops",
            action_id=action_id,
            value=value,
            response_url=self.slack.response_url(f"{USERS[user]}-{time.time()}"),
            message={"ts": card.ts, "text": card.text or "", "blocks": card.blocks or []},
        )
        payload: dict[str, Any] = json.loads(dict(parse_qsl(body))["payload"])
        return self.slack.socket_mode.interactive(payload)

    def acked_in_time(self, envelope: Envelope) -> Envelope:
        settled = self.slack.socket_mode.wait_ack(envelope.envelope_id, timeout=15)
        assert not settled.missed, f"no ack within 3 s: {settled.to_dict()}\n{self.log_tail()}"
        assert settled.ack_s is not None and settled.ack_s < 3.0
        return settled

    def wait(self, predicate: Any, what: str, timeout: float = 60.0) -> Any:
        assert self.bot.poll() is None, f"the bot exited:\n{self.log_tail()}"
        return eventually(predicate, timeout=timeout, interval=0.05, what=what)


def _stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return -9


@pytest.fixture(scope="module")
def socket_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SocketStack]:
    workdir = tmp_path_factory.mktemp("socket-mode")
    config_dir = make_config_dir(workdir / "config")
    config = load_config(config_dir)
    redis_server = EmbeddedRedis(appendonly=False).start()
    slack = LoopbackSlack(member_of=workspace_channels(config))
    slack.channel_names.update(config.channels)
    slack.add_app_token(APP_TOKEN)
    slack.socket_mode.refresh_grace_s = 3.0
    slack.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CLOUDSYNC_"))}
    env.update(
        WORKER_ENV,
        PYTHONPATH=str(REPO_ROOT),
        REDIS_URL=redis_server.url,
        CLOUDSYNC_CONFIG=str(config_dir),
        CLOUDSYNC_DATA_DIR=str(workdir / "data"),
        CLOUDSYNC_METRICS_PORT="0",
        SLACK_API_URL=slack.api_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,  # no signing secret: Socket Mode needs none
    )
    log = workdir / "bot.log"
    with log.open("wb") as out:
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--workers", "1", "--concurrency", "2"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=ends_with_parent(),
        )
    stack = SocketStack(slack, RequestStore(redis_connect.connect(redis_server.url)), bot, log)
    try:
        deadline = time.monotonic() + 90
        while slack.socket_mode.connections_opened == 0:
            if bot.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the bot never connected over Socket Mode:\n{stack.log_tail()}")
            time.sleep(0.1)
        yield stack
    finally:
        _stop(bot)
        slack.stop()
        redis_server.stop()


def _card(stack: SocketStack, request: Request, *needles: str) -> Message:
    def ready() -> Message | None:
        for message in stack.slack.messages(CHANNEL):
            text = (message.text or "") + json.dumps(message.blocks or [])
            if message.thread_ts is None and request.id in text and all(n in text for n in needles):
                return message
        return None

    return stack.wait(ready, what=f"the card of {request.id} showing {needles}")  # type: ignore[no-any-return]


def test_install_over_socket_mode_from_command_to_replies(socket_stack: SocketStack) -> None:
    stack = socket_stack
    opens = stack.slack.calls_for("apps.connections.open")
    assert opens and all(c.ok for c in opens)  # the app token went to SLACK_API_URL
    command = stack.acked_in_time(stack.slash("alice", "install SYNC01 --domain contoso.com"))
    assert command.type == "slash_commands" and command.connection == 1

    request = stack.wait(
        lambda: next(iter(stack.store.recent_of_user(USERS["alice"], limit=1)), None),
        what="alice's request",
    )
    request = stack.wait(
        lambda: (r := stack.store.get(request.id)) and r.request_hash and r, what="the preflight"
    )
    card = stack.wait(
        lambda: (
            (m := _card(stack, request))
            and any(b["action_id"] == "approve" for b in buttons(m))
            and m
        ),
        what="the card's Approve button",
    )
    approval = stack.acked_in_time(stack.click("bob", "approve", card))  # the second admin
    assert approval.type == "interactive"

    done = stack.wait(
        lambda: (
            (r := stack.store.get(request.id)) and r.state in (State.SUCCEEDED, State.FAILED) and r
        ),
        what="the run to finish",
        timeout=120,
    )
    assert done.state is State.SUCCEEDED, done.reason
    _card(stack, request, "succeeded")
    steps = stack.store.all_steps(done)["SYNC01"]

    def replies() -> list[Message] | None:
        thread = stack.slack.thread(CHANNEL, card.ts)[1:]
        per_host = [m for m in thread if "SYNC01" in (m.text or "")]
        summary = [m for m in thread if "<@U01ALICE>" in (m.text or "") and m.reply_broadcast]
        return thread if per_host and summary else None

    thread = stack.wait(replies, what="the replies in the card's thread")
    assert len(steps) >= 1 and thread
    assert all(e.ack_s is not None and e.ack_s < 3.0 for e in stack.slack.socket_mode.envelopes)
    assert APP_TOKEN not in stack.log.read_text(errors="replace")  # no secret in the bot's log


def test_a_refresh_mid_session_reconnects_and_the_next_envelopes_are_acked(
    socket_stack: SocketStack,
) -> None:
    stack = socket_stack
    hub = stack.slack.socket_mode
    opened = hub.connections_opened
    opens = len(stack.slack.calls_for("apps.connections.open"))
    assert hub.disconnect("refresh_requested") == 1
    home = hub.event(json.loads(payloads.app_home_opened(USERS["bob"])))  # sent while refreshing
    hub.wait_connections(opened + 1, timeout=30)
    assert len(stack.slack.calls_for("apps.connections.open")) == opens + 1
    stack.acked_in_time(home)
    status = stack.acked_in_time(stack.slash("carol", "status"))
    assert status.connection == opened + 1  # on the new connection
    stack.wait(lambda: stack.slack.home_views.get(USERS["bob"]), what="bob's Home published")
    stack.wait(
        lambda: (
            any(
                p.name.startswith(USERS["carol"]) and "CS-" in json.dumps(p.body)
                for p in list(stack.slack.response_posts)
            )
            or ("CS-" in json.dumps(status.ack_payload or {}))
        ),
        what="carol's status answer",
    )
    stack.wait(lambda: hub.open_connections() == 1, what="the old connection closed", timeout=15)


def test_sigterm_stops_the_socket_mode_bot(socket_stack: SocketStack) -> None:
    """Bolt's ``handler.start()`` would block forever after SIGTERM closed its client."""
    started = time.monotonic()
    code = _stop(socket_stack.bot)
    assert code == 0, socket_stack.log_tail()
    assert time.monotonic() - started < 25
    eventually(
        lambda: socket_stack.slack.socket_mode.open_connections() == 0,
        timeout=10,
        what="the bot's connection closed",
    )
