"""`cloudsync serve` picks the mode from the settings: Socket Mode with an app token (Bolt's
SocketModeHandler, given our Bolt app and the app token, connected to the loopback Slack's Socket
Mode through SLACK_API_URL), HTTP mode only with a signing secret."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

from bot.local import payloads
from bot.local.redis_embedded import EmbeddedRedis
from bot.serve import serve
from simulator.slack_api import LoopbackSlack
from workers.domain.config import load_config
from workers.settings import Settings


@pytest.fixture()
def slack() -> Iterator[LoopbackSlack]:
    with LoopbackSlack() as server:
        yield server


@pytest.fixture()
def env(private_redis: EmbeddedRedis, tmp_path: Any, slack: LoopbackSlack) -> dict[str, str]:
    return {
        "REDIS_URL": private_redis.url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack.api_url,
        "CLOUDSYNC_DATA_DIR": str(tmp_path),
        "CLOUDSYNC_METRICS_PORT": "0",
    }


def test_socket_mode_with_an_app_token_connects_through_slack_api_url_until_sigterm(
    env: dict[str, str], slack: LoopbackSlack
) -> None:
    """Updated for Socket Mode end to end (issue 14, point 12): the real handler connects to
    the loopback server (SLACK_API_URL serves apps.connections.open too), a command sent over
    the WebSocket is acked, and SIGTERM ends serve() (``handler.start()`` never returned)."""
    slack.add_app_token("xapp-test")
    settings = Settings.from_env({**env, "SLACK_APP_TOKEN": "xapp-test"})
    seen: dict[str, Any] = {}

    def command_then_sigterm() -> None:
        try:
            slack.socket_mode.wait_connections(1, timeout=30)
            fields = payloads.slash_command(
                user_id="U01ALICE",
                user_name="alice",
                channel_id="C01OPS",
                channel_name="ops",
                text="help",
                response_url=slack.response_url("help"),
            )
            envelope = slack.socket_mode.slash_command(dict(parse_qsl(fields)))
            seen["ack"] = slack.socket_mode.wait_ack(envelope.envelope_id)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=command_then_sigterm, daemon=True)
    thread.start()
    try:
        assert serve(load_config(), settings, http=None) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    thread.join(timeout=10)
    assert [c.ok for c in slack.calls_for("apps.connections.open")] == [True]
    assert not seen["ack"].missed and seen["ack"].ack_s < 3.0


def test_socket_mode_with_a_refused_app_token_is_a_startup_error(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env({**env, "SLACK_APP_TOKEN": "xapp-not-this-apps"})
    assert serve(load_config(), settings, http=None) == 2
    err = capsys.readouterr().err
    assert "apps.connections.open: invalid_auth" in err and "connections:write" in err
    assert "xapp-not-this-apps" not in err


def test_http_mode_needs_a_signing_secret(env: dict[str, str]) -> None:
    with pytest.raises(SystemExit, match="SLACK_SIGNING_SECRET"):
        serve(load_config(), Settings.from_env(env), http="127.0.0.1:0")


def test_socket_mode_needs_an_app_token(env: dict[str, str]) -> None:
    with pytest.raises(SystemExit, match="SLACK_APP_TOKEN"):
        serve(load_config(), Settings.from_env(env), http=None)
