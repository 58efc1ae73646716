"""Fixtures for the outbox/notifier tests: the loopback Slack server (Redis: the ``rclient``
fixture of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from slack_sdk import WebClient

from simulator.slack_api import LoopbackSlack
from workers.notify import Notifier, Outbox


@pytest.fixture
def slack() -> Iterator[LoopbackSlack]:
    # the bot is a member of the channels these tests post in (CGONE: deleted, see the tests)
    member_of = {"C1", "C2", "C3", *(f"C{n}" for n in range(4))}
    with LoopbackSlack(member_of=member_of) as server:
        yield server


@pytest.fixture
def client(slack: LoopbackSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5)


@pytest.fixture
def outbox(rclient: redis.Redis) -> Outbox:
    return Outbox(rclient, prefix="t")


@pytest.fixture
def make_notifier(rclient: redis.Redis, slack: LoopbackSlack) -> Iterator[Callable[..., Notifier]]:
    """Notifiers with fast test pacing (overridable); closed at teardown."""
    made: list[Notifier] = []

    def make(**overrides: object) -> Notifier:
        options: dict[str, object] = {
            "prefix": "t",
            "per_channel_rate": 50.0,
            "min_update_interval_s": 0.0,
            "backoff_base_s": 0.05,
            "backoff_cap_s": 0.3,
            "poll_interval_s": 0.01,
        }
        options.update(overrides)
        notifier = Notifier(
            redis.Redis(connection_pool=rclient.connection_pool),
            lambda: WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5),
            **options,  # type: ignore[arg-type]
        )
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        notifier.close()
