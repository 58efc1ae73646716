"""Leases with fencing tokens and the per-host FIFO, on a real (private) redis-server."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.support import eventually
from workers.domain.model import StepResult, StepStatus
from workers.runbook.locks import FenceLost, LeaseBusy, Locks
from workers.runbook.progress import InMemoryProgress


def test_lease_is_exclusive_and_names_the_holder(rclient: Any) -> None:
    locks = Locks(rclient, ttl_s=5)
    with locks.host_lease("sync01", "CS-0001") as lease:
        lease.check()
        with pytest.raises(LeaseBusy) as busy:
            locks.host_lease("SYNC01", "CS-0002", wait_s=0)
        assert busy.value.holder == "CS-0001"
    with locks.host_lease("SYNC01", "CS-0002") as again:
        assert again.token > lease.token


def test_expired_lease_gives_a_larger_token_and_the_old_check_fails(rclient: Any) -> None:
    locks = Locks(rclient, ttl_s=5)
    first = locks.host_lease("SYNC01", "CS-0001")
    first.stop_renewing()  # a stalled worker: nothing renews its lease any more
    rclient.pexpire(first.key, 1)  # ... and its TTL ran out
    eventually(lambda: not rclient.exists(first.key), what="the stalled lease to expire")
    second = locks.host_lease("SYNC01", "CS-0002")
    assert second.token > first.token
    with pytest.raises(FenceLost):
        first.check()
    second.check()
    first.release()  # compare-and-delete: must not free the new holder's lease
    second.check()
    assert locks.holder(second.key) == "CS-0002"
    second.release()
    assert locks.holder(second.key) is None


def test_heartbeat_keeps_a_lease_alive(rclient: Any) -> None:
    locks = Locks(rclient, ttl_s=0.3)
    lease = locks.host_lease("SYNC01", "CS-0001")
    renewed = threading.Event()
    # Wait (bounded) until the heartbeat has pushed the TTL back up at least once.
    for _ in range(200):
        if rclient.pttl(lease.key) > 250:
            renewed.set()
            break
        threading.Event().wait(0.01)
    assert renewed.is_set()
    lease.check()
    lease.release()


def test_one_keeper_renews_every_lease_even_a_shorter_one_taken_later(rclient: Any) -> None:
    """No thread per lease: taking a lease starts nothing on the path from one host's
    registration to the next; a lease with a shorter TTL wakes the keeper early."""
    locks = Locks(rclient, ttl_s=30)
    before = threading.active_count()
    held = [locks.host_lease(f"SYNC{i:02d}", "CS-0001") for i in range(10)]
    assert threading.active_count() <= before + 1
    short = locks.acquire("cs:lease:test", "CS-0001", ttl_s=0.3)
    threading.Event().wait(1.0)  # more than three of its TTLs
    short.check()
    for lease in held:
        lease.check()
    for lease in [*held, short]:
        lease.release()
    assert all(locks.holder(lease.key) is None for lease in held)


def test_waiting_acquire_gets_the_lease_when_released(rclient: Any) -> None:
    locks = Locks(rclient, ttl_s=5, poll_s=0.01)
    first = locks.tenant_registration_lease("contoso", "A")
    got: list[int] = []

    def take() -> None:
        with locks.tenant_registration_lease("contoso", "B", wait_s=10) as lease:
            got.append(lease.token)

    thread = threading.Thread(target=take)
    thread.start()
    first.release()
    thread.join(10)
    assert got and got[0] > first.token


def test_progress_store_refuses_a_stale_fence() -> None:
    progress = InMemoryProgress()
    result = StepResult("SYNC01", "install", "Install", StepStatus.RUNNING)
    progress.save_step("CS-1", result, fence=5)
    progress.save_step("CS-1", result, fence=6)
    with pytest.raises(FenceLost):
        progress.save_step("CS-1", result, fence=5)


def test_fifo_runs_requests_in_approval_order(rclient: Any) -> None:
    locks = Locks(rclient, poll_s=0.01)
    locks.enqueue("CS-0001", ["SYNC01", "SYNC02"])
    locks.enqueue("CS-0002", ["SYNC01"])
    locks.enqueue("CS-0001", ["SYNC01"])  # idempotent
    assert locks.queue("SYNC01") == ["CS-0001", "CS-0002"]
    assert locks.wait_turn("CS-0002", "SYNC01", wait_s=0) == "CS-0001"
    assert locks.wait_turn("CS-0001", "SYNC01", wait_s=0) is None
    locks.done("CS-0001", ["SYNC01", "SYNC02"])
    assert locks.wait_turn("CS-0002", "SYNC01", wait_s=0) is None
    assert locks.queue("SYNC02") == []
    assert locks.wait_turn("CS-0003", "SYNC03", wait_s=0) is None  # joins an empty queue
    assert locks.queue("SYNC03") == ["CS-0003"]
