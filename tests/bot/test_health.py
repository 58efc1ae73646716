"""The bot's /healthz tells the truth: not ok when Redis or Slack cannot be reached."""

from __future__ import annotations

import redis
from slack_sdk import WebClient

from bot.health import SlackProbe, bot_health
from simulator.slack_api import LoopbackSlack


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_health_needs_redis_and_slack(rclient: redis.Redis) -> None:
    clock = Clock()
    with LoopbackSlack() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        probe = SlackProbe(client, interval_s=30, clock=clock)
        healthy = bot_health(rclient, probe)
        assert healthy()
        slack.unreachable()
        assert healthy(), "cached for the interval: auth.test is rate limited"
        clock.now += 31
        assert not healthy()
        slack.reachable()
        slack.revoke("xoxb-test")
        clock.now += 31
        assert not healthy(), "a revoked token is not healthy"
    calls = [c.method for c in slack.calls]
    assert calls.count("auth.test") == 3


def test_health_without_redis() -> None:
    with LoopbackSlack() as slack:
        probe = SlackProbe(WebClient(token="xoxb-test", base_url=slack.api_url))
        dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
        assert not bot_health(dead, probe)()
