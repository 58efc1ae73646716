"""Fencing tokens across a failover that lost the last writes (asynchronous replication): a
lease taken on the promoted replica is larger than every lease the old primary gave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.local.redis_embedded import EmbeddedRedis
from tests.support import eventually
from workers.domain.model import StepResult, StepStatus
from workers.domain.store import FenceLost, RequestStore
from workers.runbook.locks import Locks


@pytest.fixture()
def pair(tmp_path: Path) -> Iterator[tuple[redis.Redis, redis.Redis]]:
    # folders of their own: the replica's full sync writes RDB files there
    primary = EmbeddedRedis(tmp_path / "primary", appendonly=False).start()
    replica = EmbeddedRedis(tmp_path / "replica", appendonly=False, replica_of=primary.port)
    replica.start()
    clients = (redis.Redis(port=primary.port), redis.Redis(port=replica.port))
    try:
        eventually(
            lambda: clients[1].info("replication").get("master_link_status") == "up",
            timeout=10,
            what="the replica in sync",
        )
        yield clients
    finally:
        for client in clients:
            client.close()
        replica.stop()
        primary.stop()


def test_a_token_after_a_lossy_failover_is_larger(pair: tuple[redis.Redis, redis.Redis]) -> None:
    old, new = pair
    before = Locks(old, ttl_s=30)
    first = before.host_lease("SYNC01", "CS-0001")
    first.release()
    assert old.wait(1, 2000) == 1  # the replica has the first token
    new.replicaof("NO", "ONE")  # the link breaks (a partition): nothing more reaches it
    lost = before.host_lease("SYNC01", "CS-0002")  # the old primary's last write ...
    fence_key = f"{lost.key}:fence"
    assert int(new.get(fence_key) or 0) == first.token  # ... never reached the replica
    lost.stop_renewing()

    # the replica is promoted; the old primary's holder is gone from its data
    after = Locks(new, ttl_s=30)
    taken = after.host_lease("SYNC01", "CS-0003")
    assert taken.token > lost.token > first.token
    # a plain counter would have handed out the lost token again
    assert int(new.get(fence_key) or 0) == taken.token and first.token + 1 <= lost.token

    # the progress store on the new primary refuses the old holder once the new one saved
    store = RequestStore(new, prefix="cs")
    step = StepResult("SYNC01", "install", "Install", StepStatus.RUNNING)
    store.save_steps("CS-0003", [step], fence=taken.token)
    with pytest.raises(FenceLost):
        store.save_steps("CS-0003", [step], fence=lost.token)
    taken.release()


def test_the_counter_wins_over_a_clock_that_is_behind(rclient: redis.Redis) -> None:
    locks = Locks(rclient, ttl_s=30)
    key = locks.host_key("SYNC01")
    ahead = 2**52  # a token from a server whose clock ran far ahead
    rclient.set(f"{key}:fence", ahead)
    lease = locks.host_lease("SYNC01", "CS-0001")
    assert lease.token == ahead + 1
    lease.check()  # the stored value is the token's exact digits
    lease.release()
