"""GroupResolver against the loopback Slack Web API server (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.groups import GroupResolver
from simulator.slack_api import LoopbackSlack


class Clock:
    """A hand-wound clock: the cache's TTL is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackSlack]:
    with LoopbackSlack() as slack:
        yield slack


@pytest.fixture
def slack(server: LoopbackSlack) -> LoopbackSlack:
    server.reset()
    server.usergroups.clear()
    server.usergroups.update({"S01APPROVERS": ["U02BOB", "U03CAROL"], "S02OPS": ["U01ALICE"]})
    return server


@pytest.fixture
def clock() -> Clock:
    return Clock()


def resolver(slack: LoopbackSlack, clock: Clock, ttl: float = 300.0) -> GroupResolver:
    client = WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5)
    return GroupResolver(client, ttl, error_backoff_s=30.0, clock=clock)


def lookups(slack: LoopbackSlack) -> int:
    return len(slack.calls_for("usergroups.users.list"))


def test_membership_of_candidate_groups(slack: LoopbackSlack, clock: Clock) -> None:
    groups = resolver(slack, clock)
    assert groups.groups_of("U02BOB", ["S01APPROVERS", "S02OPS"]) == {"S01APPROVERS"}
    assert groups.groups_of("U01ALICE", ["S01APPROVERS", "S02OPS"]) == {"S02OPS"}
    assert groups.groups_of("U09NOBODY", ["S01APPROVERS", "S02OPS"]) == set()
    assert groups.groups_of("U02BOB", []) == set()


def test_cached_for_the_ttl_then_refreshed(slack: LoopbackSlack, clock: Clock) -> None:
    groups = resolver(slack, clock, ttl=300)
    assert groups.groups_of("U02BOB", ["S01APPROVERS"]) == {"S01APPROVERS"}
    assert groups.groups_of("U03CAROL", ["S01APPROVERS", "S01APPROVERS"]) == {"S01APPROVERS"}
    assert lookups(slack) == 1
    slack.usergroups["S01APPROVERS"] = ["U03CAROL"]  # Bob leaves the group
    clock.now += 299
    assert groups.groups_of("U02BOB", ["S01APPROVERS"]) == {"S01APPROVERS"}  # still cached
    clock.now += 2
    assert groups.groups_of("U02BOB", ["S01APPROVERS"]) == set()
    assert lookups(slack) == 2


def test_invalidate_forces_a_lookup(slack: LoopbackSlack, clock: Clock) -> None:
    groups = resolver(slack, clock)
    groups.members("S01APPROVERS")
    groups.invalidate("S01APPROVERS")
    groups.members("S01APPROVERS")
    groups.invalidate()
    groups.members("S01APPROVERS")
    assert lookups(slack) == 3


def test_rate_limited_keeps_last_known_and_waits_retry_after(
    slack: LoopbackSlack, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    groups = resolver(slack, clock, ttl=60)
    assert groups.members("S01APPROVERS") == {"U02BOB", "U03CAROL"}
    clock.now += 61
    slack.fail("usergroups.users.list", status=429, retry_after=120, count=1)
    with caplog.at_level(logging.WARNING, logger="bot.groups"):
        assert groups.members("S01APPROVERS") == {"U02BOB", "U03CAROL"}
    assert "last known members" in caplog.text
    assert lookups(slack) == 2
    clock.now += 100  # inside Retry-After: Slack is not asked again
    assert groups.members("S01APPROVERS") == {"U02BOB", "U03CAROL"}
    assert lookups(slack) == 2
    clock.now += 21
    slack.usergroups["S01APPROVERS"] = ["U03CAROL"]
    assert groups.members("S01APPROVERS") == {"U03CAROL"}
    assert lookups(slack) == 3


def test_unknown_group_or_server_error_grants_nothing(slack: LoopbackSlack, clock: Clock) -> None:
    groups = resolver(slack, clock)
    assert groups.groups_of("U02BOB", ["S99MISSING"]) == set()
    slack.fail("usergroups.users.list", status=503, count=1)
    assert groups.groups_of("U02BOB", ["S01APPROVERS"]) == set()  # never seen: empty


def test_unreachable_slack_keeps_last_known(slack: LoopbackSlack, clock: Clock) -> None:
    groups = resolver(slack, clock, ttl=10)
    assert groups.groups_of("U02BOB", ["S01APPROVERS"]) == {"S01APPROVERS"}
    clock.now += 11
    slack.unreachable()
    try:
        assert groups.groups_of("U02BOB", ["S01APPROVERS"]) == {"S01APPROVERS"}
    finally:
        slack.reachable()
