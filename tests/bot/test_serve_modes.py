"""`cloudsync serve` picks the mode from the settings: Socket Mode with SLACK_APP_TOKEN (Slack's
SocketModeHandler, given our Bolt app and the app token), HTTP mode only with a signing secret.
Slack itself is unreachable here, so the handler's connection is the one thing replaced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import slack_bolt.adapter.socket_mode as socket_mode

from bot.local.redis_embedded import EmbeddedRedis
from bot.serve import serve
from simulator.slack_api import LoopbackSlack
from workers.domain.config import load_config
from workers.settings import Settings


@pytest.fixture()
def env(private_redis: EmbeddedRedis, tmp_path: Any) -> Iterator[dict[str, str]]:
    with LoopbackSlack() as slack:
        yield {
            "REDIS_URL": private_redis.url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_API_URL": slack.api_url,
            "CLOUDSYNC_DATA_DIR": str(tmp_path),
            "CLOUDSYNC_METRICS_PORT": "0",
        }


def test_socket_mode_with_an_app_token(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    class Handler:
        def __init__(self, app: Any, app_token: str) -> None:
            seen["app"], seen["token"] = app, app_token

        def start(self) -> None:
            seen["started"] = True

        def close(self) -> None:
            pass

    monkeypatch.setattr(socket_mode, "SocketModeHandler", Handler)
    monkeypatch.setenv("CLOUDSYNC_METRICS_PORT", "0")
    settings = Settings.from_env({**env, "SLACK_APP_TOKEN": "xapp-test"})
    assert serve(load_config(), settings, http=None) == 0
    assert seen["token"] == "xapp-test" and seen["started"]
    from slack_bolt import App

    assert isinstance(seen["app"], App) and len(seen["app"]._listeners) >= 5


def test_http_mode_needs_a_signing_secret(env: dict[str, str]) -> None:
    with pytest.raises(SystemExit, match="SLACK_SIGNING_SECRET"):
        serve(load_config(), Settings.from_env(env), http="127.0.0.1:0")


def test_socket_mode_needs_an_app_token(env: dict[str, str]) -> None:
    with pytest.raises(SystemExit, match="SLACK_APP_TOKEN"):
        serve(load_config(), Settings.from_env(env), http=None)
