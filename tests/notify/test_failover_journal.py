"""The notifier across a Redis failover (real redis-servers, the real loopback Slack server):
a post whose removal no replica acknowledged is never posted again when the (new) primary
shows it queued again, and a single Redis without replicas gets no WAIT at all.

The failover is played on the session's redis-server with a real replica attached: the replica
is frozen (SIGSTOP) so it acknowledges nothing, the notifier posts, and the server is then put
back to the state it had before the post (the keys dumped then, restored): what a promoted
replica that missed the removal holds."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.local.redis_embedded import EmbeddedRedis
from simulator.slack_api import LoopbackSlack
from tests.support import eventually
from workers.notify import Notifier, Outbox
from workers.notify.items import text_of

MakeNotifier = Callable[..., Notifier]
Snapshot = list[tuple[bytes, int, bytes]]


@pytest.fixture
def replica(
    private_redis: EmbeddedRedis, rclient: redis.Redis, tmp_path: Path
) -> Iterator[EmbeddedRedis]:
    """A replica of the session's redis-server, in sync; frozen and thawed by the tests (its
    folder: a replica saves the primary's snapshot there on its first sync)."""
    # the primary streams its snapshot to the replica instead of writing it to its (the
    # current) folder first
    rclient.config_set("repl-diskless-sync", "yes")
    rclient.config_set("repl-diskless-sync-delay", "0")
    server = EmbeddedRedis(tmp_path, appendonly=False, replica_of=private_redis.port).start()
    eventually(
        lambda: (
            rclient.info("replication").get("connected_slaves") == 1 and rclient.wait(1, 1000) == 1
        ),
        what="the replica in sync",
        timeout=15,
    )
    yield server
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGCONT)
    server.stop()
    eventually(
        lambda: rclient.info("replication").get("connected_slaves") == 0,
        what="the replica gone",
        timeout=15,
    )


def _freeze(server: EmbeddedRedis) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)


def _snapshot(client: redis.Redis) -> Snapshot:
    keys: list[bytes] = client.keys("*")  # type: ignore[assignment]
    return [(k, max(0, int(client.pttl(k))), client.dump(k)) for k in keys]  # type: ignore[misc]


def _restore(client: redis.Redis, snapshot: Snapshot) -> None:
    """The primary now holds what it held when ``snapshot`` was taken (the promoted replica)."""
    client.flushdb()
    for key, ttl, data in snapshot:
        client.restore(key, ttl, data, replace=True)


def _thread_texts(slack: LoopbackSlack, channel: str, parent: str) -> list[str]:
    return [m.text or "" for m in slack.thread(channel, parent)[1:]]


def test_a_removal_no_replica_acknowledged_is_not_posted_again(
    rclient: redis.Redis,
    replica: EmbeddedRedis,
    slack: LoopbackSlack,
    outbox: Outbox,
    make_notifier: MakeNotifier,
) -> None:
    notifier = make_notifier(replica_wait_ms=50)
    notifier.replicas.wait_ms = 5000  # the live replica acknowledges the card (even under load)
    outbox.post("C1", text="card", key="R1:card")
    assert notifier.drain(10)
    assert len(notifier.journal) == 0
    parent = outbox.resolve("R1:card")
    assert parent is not None
    outbox.post("C1", text="HOSTA done", thread_key="R1:card")
    rclient.wait(1, 1000)
    before = _snapshot(rclient)  # what the replica holds when it stops acknowledging
    _freeze(replica)
    notifier.replicas.wait_ms = 50  # a frozen replica: the WAIT gives up soon
    began = time.monotonic()
    assert notifier.drain(10)
    assert time.monotonic() - began < 2  # the WAIT gave up after replica_wait_ms
    assert _thread_texts(slack, "C1", parent[1]) == ["HOSTA done"]
    assert len(notifier.journal) == 1  # posted, its removal not on any replica

    _restore(rclient, before)  # the failover: the reply is queued again
    assert outbox.depth() == 1
    assert notifier.drain(10)
    assert outbox.depth() == 0  # removed again, not sent
    assert _thread_texts(slack, "C1", parent[1]) == ["HOSTA done"]
    assert notifier.metrics.count("skipped") == 1


def test_a_lost_claim_and_a_lost_card_key_are_mended(
    rclient: redis.Redis,
    replica: EmbeddedRedis,
    slack: LoopbackSlack,
    outbox: Outbox,
    make_notifier: MakeNotifier,
) -> None:
    """The card's post was claimed and sent, then the failover lost the claim, the removal and
    its channel and ts: the card is not posted twice, and its queued edit still reaches it."""
    notifier = make_notifier(replica_wait_ms=50)
    outbox.post("C1", text="card v0", key="R2:card")
    rclient.wait(1, 1000)
    before = _snapshot(rclient)
    _freeze(replica)
    assert notifier.drain(10)
    assert [m.text for m in slack.messages("C1")] == ["card v0"]

    _restore(rclient, before)
    assert outbox.resolve("R2:card") is None  # lost with the failover
    item_id = text_of(rclient.lindex(outbox.keys.lane("C1"), 0))
    rclient.hset(outbox.keys.item(item_id), "claimed", "1")  # claimed on the old primary
    outbox.update("R2:card", text="card v1")  # the projector goes on on the new primary
    assert notifier.drain(10)
    assert [m.text for m in slack.messages("C1")] == ["card v1"]  # one message, edited
    assert len(slack.calls_for("chat.postMessage")) == 1


def test_an_item_enqueued_again_under_its_uid_is_not_posted_again(
    rclient: redis.Redis,
    replica: EmbeddedRedis,
    slack: LoopbackSlack,
    outbox: Outbox,
    make_notifier: MakeNotifier,
) -> None:
    """The failover lost the enqueue too (with the projector's marker): the event is projected
    again and its reply enqueued again, as a new item with the same uid."""
    notifier = make_notifier(replica_wait_ms=50)
    notifier.replicas.wait_ms = 5000  # the live replica acknowledges the card (even under load)
    outbox.post("C1", text="card", key="R3:card")
    assert notifier.drain(10)
    rclient.wait(1, 1000)
    before = _snapshot(rclient)
    _freeze(replica)
    notifier.replicas.wait_ms = 50
    outbox.post("C1", text="HOSTB done", thread_key="R3:card", uid="reply:R3:a1:HOSTB:done")
    assert notifier.drain(10)

    _restore(rclient, before)
    batch = outbox.batch(uid_prefix="ev:1-0")
    batch.post("C1", text="HOSTB done", thread_key="R3:card", uid="reply:R3:a1:HOSTB:done")
    with rclient.pipeline(transaction=True) as pipe:
        batch.write(pipe)
        pipe.execute()
    assert outbox.depth() == 1
    assert notifier.drain(10)
    assert [m.text for m in slack.messages("C1")].count("HOSTB done") == 1


def test_a_replica_that_acknowledges_leaves_nothing_in_the_journal(
    replica: EmbeddedRedis, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    notifier = make_notifier(replica_wait_ms=1000)
    for n in range(5):
        outbox.post("C1", text=f"post {n}")
    assert notifier.drain(10)
    assert notifier.replicas.count() == 1
    assert len(notifier.journal) == 0


def test_a_redis_without_replicas_gets_no_wait(
    rclient: redis.Redis, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    rclient.config_resetstat()
    notifier = make_notifier(replica_wait_ms=5000)  # a WAIT would show as seconds here
    for n in range(5):
        outbox.post("C1", text=f"post {n}")
    began = time.monotonic()
    assert notifier.drain(10)
    assert time.monotonic() - began < 2
    assert notifier.replicas.count() == 0
    assert len(notifier.journal) == 0
    assert int(rclient.info("commandstats").get("cmdstat_wait", {}).get("calls", 0)) == 0
