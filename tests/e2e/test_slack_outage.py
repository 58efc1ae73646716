"""Slack answers 429 and 503 for a while during an install, then recovers: every step result still
arrives in the request's thread, in order, none twice, and the notifier keeps to Slack's pace of
one post per second per channel (the loopback server also enforces it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import CHANNEL, E2EStack
from tests.e2e.slack_helpers import card, run_count
from workers.domain.model import State


@pytest.fixture
def paced(e2e: E2EStack) -> Iterator[E2EStack]:
    """The shared stack with the production pace (1 post/s) and Slack's limit enforced."""
    e2e.wait_quiet()
    old_rate = e2e.local.notifier.rate
    e2e.local.notifier.rate = 1.0
    e2e.slack.enforce_rate(1.0, burst=2)
    try:
        yield e2e
    finally:
        e2e.local.notifier.rate = old_rate
        e2e.slack.enforce_rate(None)


def test_steps_arrive_once_in_order_through_429_and_503(paced: E2EStack) -> None:
    e2e = paced
    host = "TWIN01"
    installs = run_count(e2e, host)
    request = e2e.submit("alice", f"install {host} --domain contoso.com")
    parent = card(e2e, request.id)

    # Slack misbehaves while the run posts: a few 429s with Retry-After, then 503s for 2 s
    e2e.slack.fail("chat.postMessage", status=429, retry_after=1, count=2)
    e2e.slack.fail("chat.update", status=429, retry_after=1, count=1)
    e2e.slack.fail_for(2.0, status=503)
    assert e2e.click("bob", "approve", request.id).status_code == 200
    done = e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED)
    assert done.state is State.SUCCEEDED, done.reason
    e2e.wait_quiet(timeout=60)

    failures = [c for c in e2e.slack.calls if c.status in (429, 503)]
    assert any(c.status == 429 for c in failures) and any(c.status == 503 for c in failures)

    # every step result, once, in the order the steps ran
    steps = e2e.store.all_steps(done)[host]
    expected = [s.step_id for s in sorted(steps, key=lambda s: s.started_at or 0)]
    thread = e2e.slack.thread(CHANNEL, parent.ts)[1:]
    got = [
        (m.text or "").split(" · ", 1)[1].split(" ", 1)[0]
        for m in thread
        if f"{host} · " in (m.text or "")
    ]
    assert got == expected, (got, expected)
    summaries = [m for m in thread if request.id in (m.text or "") and m.reply_broadcast]
    assert len(summaries) == 1
    assert run_count(e2e, host) - installs <= 1

    # the pace: successful posts to the channel average at most one per second (plus the burst)
    posts = [
        c
        for c in e2e.slack.calls_for("chat.postMessage")
        if c.ok and c.status == 200 and c.channel == CHANNEL and c.at >= parent_time(e2e, parent)
    ]
    span = posts[-1].at - posts[0].at
    assert len(posts) - 2 <= span * 1.0 + 0.5, (len(posts), span)


def parent_time(e2e: E2EStack, parent: object) -> float:
    """When the card was posted (the window the pace is measured over starts there)."""
    ts = getattr(parent, "ts", "")
    return next(c.at for c in e2e.slack.calls_for("chat.postMessage") if c.ts == ts)
