"""Redis Sentinel fails over while a 10-host install runs: the primary is killed (SIGKILL), a
replica takes over, and the run finishes with every installer run once, no request lost and
every Slack post in the thread exactly once. The stack reaches Redis only through the
``sentinel://`` REDIS_URL (bot, workers, outbox, leases)."""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.local.redis_sentinel import SentinelGroup
from tests.e2e.harness import CHANNEL, E2EStack, make_config_dir
from tests.e2e.slack_helpers import card, run_count
from workers import redis_connect
from workers.domain.model import Request, State, StepStatus
from workers.redis_retry import retrying
from workers.runbook.locks import Locks

HOSTS = [f"HA{i:02d}" for i in range(10)]
# a multi-host request's thread gets one reply per host when it is done (its step summary) and
# one per failure: "✅ HA01 · CS-0001: ..." (bot/blocks/fleet.py::host_finished_reply)
HOST_REPLY = re.compile(r"(?P<host>HA\d\d) · CS-\d+: ")


def _ten_hosts(inventory: dict[str, Any], policy: dict[str, Any]) -> None:
    for name in HOSTS:
        inventory["hosts"][name] = {"simulated": True, "sim": {"install_s": 1.5}}


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    with SentinelGroup(tmp_path_factory.mktemp("sentinel")) as started:
        yield started


@pytest.fixture(scope="module")
def stack(group: SentinelGroup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    workdir: Path = tmp_path_factory.mktemp("failover")
    e2e = E2EStack(
        workdir,
        make_config_dir(workdir / "config", _ten_hosts),
        notifier_rate=1000.0,
        env={"REDIS_URL": group.url},
    ).start()
    yield e2e
    e2e.stop()


def _finished(stack: E2EStack, request_id: str) -> int:
    """Step results saved so far (-1 while the store cannot answer: the failover)."""
    try:
        request = stack.store.get(request_id)
    except redis.RedisError:
        return -1
    steps = stack.store.all_steps(request) if request else {}
    return sum(1 for host in steps.values() for s in host if s.status is not StepStatus.RUNNING)


def _host_replies(stack: E2EStack, parent_ts: str) -> list[str]:
    """The host of every host reply posted in the request's thread."""
    out = []
    for message in stack.slack.thread(CHANNEL, parent_ts)[1:]:
        found = HOST_REPLY.search(message.text or "")
        if found and found["host"] in HOSTS:
            out.append(found["host"])
    return out


@dataclass
class FailoverRun:
    request: Request
    pending: Request
    parent_ts: str
    failover_s: float  # from the kill until the sentinels name the new primary
    recovery_s: float  # from the kill until the run saves a step result again
    tokens: tuple[int, int]  # a lease's fencing token taken before the kill, and one after


@pytest.fixture(scope="module")
def failover_run(group: SentinelGroup, stack: E2EStack) -> FailoverRun:
    """One 10-host install, its primary killed while the installers run."""
    assert stack.redis_url.startswith("sentinel://") and stack.local.stack.redis_server is None
    pending = stack.submit("alice", "install SYNC02 --domain contoso.com")
    request = stack.submit("alice", f"install {','.join(HOSTS)} --domain contoso.com")
    parent = card(stack, request.id)
    assert stack.click("bob", "approve", request.id).status_code == 200

    def installing() -> bool:
        steps = stack.store.load_steps(request.id, HOSTS[0]).get("install")
        return steps is not None and steps.status is StepStatus.RUNNING

    stack.wait_for(installing, timeout=30, what="the install running")
    progress = _finished(stack, request.id)
    locks = Locks(redis_connect.connect(stack.redis_url), ttl_s=30, prefix="failover-probe")
    before = locks.host_lease("PROBE01", "before")  # its token is the key's last one
    before.release()
    old = group.primary_port()
    assert old is not None
    killed = time.monotonic()
    group.kill_primary()
    group.wait_failover(old, timeout=20)
    failover_s = time.monotonic() - killed
    stack.wait_for(
        lambda: _finished(stack, request.id) > progress, timeout=40, what="progress again"
    )
    recovery_s = time.monotonic() - killed
    after = retrying(lambda: locks.try_acquire(locks.host_key("PROBE01"), "after"))
    assert after is not None
    after.release()
    print(f"failover {failover_s:.1f} s, run progressing again {recovery_s:.1f} s after the kill")
    stack.wait_state(request.id, State.SUCCEEDED, State.FAILED, timeout=60)
    stack.wait_quiet(timeout=30)
    return FailoverRun(
        request, pending, parent.ts, failover_s, recovery_s, (before.token, after.token)
    )


@pytest.mark.timeout(120)
def test_the_run_finishes_with_every_installer_run_once(
    stack: E2EStack, failover_run: FailoverRun
) -> None:
    done = stack.store.get(failover_run.request.id)
    assert done.state is State.SUCCEEDED, done.reason
    assert failover_run.recovery_s < 30, failover_run
    # the simulator's own record: the installer ran once on every host
    assert {h: run_count(stack, h) for h in HOSTS} == dict.fromkeys(HOSTS, 1)


def test_a_lease_after_the_failover_outranks_the_ones_before(failover_run: FailoverRun) -> None:
    before, after = failover_run.tokens
    assert after > before


def test_no_request_is_lost(stack: E2EStack, failover_run: FailoverRun) -> None:
    kept = stack.store.get(failover_run.pending.id)
    assert kept is not None and kept.state is State.PENDING_APPROVAL
    assert kept.request_hash == failover_run.pending.request_hash
    assert stack.click("carol", "approve", kept.id).status_code == 200  # and it still works
    after = stack.wait_state(kept.id, State.SUCCEEDED, State.FAILED, timeout=60)
    assert after.state is State.SUCCEEDED, after.reason


def test_the_card_and_its_summary_are_posted_once(
    stack: E2EStack, failover_run: FailoverRun
) -> None:
    request_id = failover_run.request.id
    thread = stack.slack.thread(CHANNEL, failover_run.parent_ts)[1:]
    summaries = [m for m in thread if request_id in (m.text or "") and m.reply_broadcast]
    assert len(summaries) == 1
    cards = [
        m
        for m in stack.slack.messages(CHANNEL)
        if m.thread_ts is None and request_id in (m.text or "")
    ]
    assert len(cards) == 1


def test_every_host_reply_is_posted_once(stack: E2EStack, failover_run: FailoverRun) -> None:
    """One reply per host of the multi-host request (its step summary, posted when it is done):
    none lost, none doubled across the failover."""
    expected = Counter(HOSTS)
    posted: Counter[str] = Counter()

    def all_posted() -> bool:
        posted.clear()
        posted.update(_host_replies(stack, failover_run.parent_ts))
        return posted == expected

    with contextlib.suppress(AssertionError):
        stack.wait_for(all_posted, timeout=15, what="one reply per host")
    lost, doubled = expected - posted, posted - expected
    assert not lost and not doubled, f"replies lost: {dict(lost)}; doubled: {dict(doubled)}"
