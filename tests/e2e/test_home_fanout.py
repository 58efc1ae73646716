"""App Home fan-out (issue 13, attack 9): a decision republishes App Home only for recent viewers
whose tab it changes (its requester and its approvers), at most once each per batch, out of a
bounded set of recent viewers; checked on the real stack with the loopback Slack server's record
of views.publish, and the bound and expiry on real Redis with a given clock."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import redis

from bot.local import payloads
from bot.projector import HOME_MAX_VIEWERS, HOME_RECENT_S, home_viewers, remember_home_viewer
from tests.e2e.harness import USERS, E2EStack
from workers.domain.model import State
from workers.domain.store import RequestStore

FAKES = [f"U7FAKE{i:03d}" for i in range(150)]


def _publishes(e2e: E2EStack, after: int = 0) -> list[str]:
    return [str(c.args.get("user_id", "")) for c in e2e.slack.calls_for("views.publish")[after:]]


def _open_home(e2e: E2EStack, user: str) -> None:
    assert e2e.post(payloads.app_home_opened(user)).status_code == 200


def test_a_decision_does_not_republish_every_viewer_ever_seen(e2e: E2EStack) -> None:
    request = e2e.submit("alice", "install SYNC03 --domain contoso.com")
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda u: _open_home(e2e, u), FAKES))
    for user in ("alice", "bob"):  # the requester and an approver look at their tab too
        _open_home(e2e, USERS[user])
    e2e.wait_for(
        lambda: {USERS["alice"], USERS["bob"]} <= set(_publishes(e2e)), what="the opened tabs"
    )
    e2e.wait_quiet()
    before = len(_publishes(e2e))

    assert e2e.submit_deny("bob", request.id, "not this week").status_code == 200
    e2e.wait_state(request.id, State.DENIED)
    e2e.wait_for(
        lambda: USERS["alice"] in _publishes(e2e, before), what="the requester's tab refreshed"
    )
    e2e.wait_quiet()
    republished = Counter(_publishes(e2e, before))
    assert set(republished) <= {USERS["alice"], USERS["bob"], USERS["carol"]}, republished
    assert all(n == 1 for n in republished.values()), republished
    assert USERS["bob"] in republished  # the approver's pending list changed


def test_viewers_are_bounded_and_expire(rclient: redis.Redis) -> None:
    store = RequestStore(rclient, prefix="fan")
    now = 1_000_000.0
    remember_home_viewer(store, "UOLD", ["S1"], now=now - HOME_RECENT_S - 1)
    for i in range(HOME_MAX_VIEWERS + 20):
        remember_home_viewer(store, f"U{i:03d}", [], now=now + i)
    viewers = home_viewers(store, now=now + HOME_MAX_VIEWERS + 20)
    assert len(viewers) == HOME_MAX_VIEWERS
    assert "UOLD" not in viewers and "U000" not in viewers  # expired, and the oldest trimmed
    assert f"U{HOME_MAX_VIEWERS + 19:03d}" in viewers
    # what is trimmed is gone from Redis, not only hidden
    assert rclient.zcard("fan:home-seen") == HOME_MAX_VIEWERS
    assert rclient.hlen("fan:home-viewers") == HOME_MAX_VIEWERS
    # a viewer last seen too long ago is not republished, even under the bound
    assert home_viewers(store, now=now + HOME_MAX_VIEWERS + 20 + HOME_RECENT_S + 1) == {}
