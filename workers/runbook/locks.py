"""Redis leases with fencing tokens, and the per-host FIFO of approved requests.

A lease is a key holding ``owner|token`` with a TTL, renewed by one keeper thread per Locks;
a newer lease always has a larger token, so a worker that stalled past its TTL and a newer
holder can always be told apart: ``check()`` fails for the old holder and the progress store
refuses its smaller token.

Tokens survive a failover (Redis Sentinel promoting a replica). Replication is asynchronous,
so the promoted replica may lack the last writes of the old primary, the last token taken
included: a plain ``INCR`` counter would then hand out the same token a second time. A token
is therefore ``max(last token + 1, the server's TIME in microseconds)``, taken in the acquire
script: on one server it grows strictly (even when the clock steps back, the counter wins);
across a failover the new primary's clock has moved on by the whole failover (Sentinel waits
``down-after-milliseconds``, seconds, before it even elects), so its first token exceeds every
token the old primary gave, the lost ones included. The one assumption: the clocks of the Redis
servers agree to within the failover time (NTP keeps them within milliseconds). Tokens stay
below 2^53, so Lua's numbers hold them exactly (until the year 2255).
Release and renewal are compare-and-delete / compare-and-extend Lua scripts, so a worker never
removes or extends a lease that is no longer its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from workers.redis_retry import retrying

log = logging.getLogger(__name__)

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('DEL', KEYS[2])
  redis.call('RPUSH', KEYS[2], '1')
  redis.call('PEXPIRE', KEYS[2], 2000)
  return 1
end
return 0
"""
# replicate_commands: Redis 6 refuses writes after TIME without it (a no-op from Redis 7 on);
# string.format('%d'): Lua's own number-to-text would print 16 digits as 1.79e+15
_ACQUIRE = """
redis.replicate_commands()
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
local token = math.max(clock, tonumber(redis.call('GET', KEYS[2]) or '0') + 1)
local text = string.format('%d', token)
redis.call('SET', KEYS[2], text)
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. text, 'PX', ARGV[2])
return token
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_ENQUEUE = """
for i, key in ipairs(KEYS) do
  if not redis.call('LPOS', key, ARGV[1]) then redis.call('RPUSH', key, ARGV[1]) end
end
return 1
"""


class FenceLost(RuntimeError):
    """This worker no longer holds the lease: it must stop without acting."""


class LeaseBusy(RuntimeError):
    """Someone else holds the lease (``holder`` says who) and the wait ran out."""

    def __init__(self, key: str, holder: str | None) -> None:
        super().__init__(f"{key} is held by {holder or 'another worker'}")
        self.key = key
        self.holder = holder


class Lease:
    """A held lease; use as a context manager. ``token`` is the fencing token. Its Locks'
    keeper renews it until it is released; ``lost`` is set when a renewal finds it taken."""

    def __init__(self, locks: Locks, key: str, owner: str, token: int, ttl_s: float) -> None:
        self._locks = locks
        self.key = key
        self.owner = owner
        self.token = token
        self.ttl_s = ttl_s
        self.value = f"{owner}|{token}"
        self.lost = threading.Event()
        locks.keeper.add(self)

    def check(self) -> None:
        """Raise FenceLost unless the key still holds our value."""
        held = retrying(lambda: self._locks.redis.get(self.key), what="lease check")
        if self.lost.is_set() or held != self.value.encode():
            self.lost.set()
            raise FenceLost(f"lost the lease {self.key} (token {self.token})")

    def stop_renewing(self) -> None:
        self._locks.keeper.discard(self)

    def release(self) -> None:
        self.stop_renewing()
        try:
            self._locks.release(self)
        except Exception:  # the TTL frees it anyway
            return

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _Keeper:
    """One thread renewing every lease its Locks holds, a third of the shortest TTL apart, all
    in one round trip. (A thread per lease would be started on the path from one host's
    registration to the next, and thirty hosts would mean thirty threads doing this.)"""

    def __init__(self, locks: Locks) -> None:
        self._locks = locks
        self._leases: set[Lease] = set()
        self._changed = threading.Condition()
        self._running = False
        self._shortest = 0.0  # the TTL the keeper's current wait was computed from

    def add(self, lease: Lease) -> None:
        with self._changed:
            self._leases.add(lease)
            if lease.ttl_s < self._shortest:  # the keeper sleeps too long for this one
                self._changed.notify()
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="lease-keeper", daemon=True).start()

    def discard(self, lease: Lease) -> None:
        with self._changed:
            self._leases.discard(lease)

    def _run(self) -> None:
        while True:
            with self._changed:
                if not self._leases:
                    self._running = False  # the next add starts a new keeper
                    return
                self._shortest = min(lease.ttl_s for lease in self._leases)
                self._changed.wait(max(self._shortest / 3.0, 0.05))
                leases = list(self._leases)
            if not leases:
                continue
            try:
                renewed = self._locks.extend_all(leases)
            except Exception as exc:  # Redis down: the leases may expire; saves will tell
                log.warning("renewing %d lease(s) failed: %s", len(leases), type(exc).__name__)
                continue
            for lease, ok in zip(leases, renewed, strict=True):
                if not ok:
                    lease.lost.set()
                    self.discard(lease)


class Locks:
    """Leases and queues on one Redis connection (redis-py client, bytes responses)."""

    def __init__(
        self,
        redis: Any,
        *,
        ttl_s: float = 30.0,
        poll_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        prefix: str = "cs",
    ) -> None:
        self.redis = redis
        self.prefix = prefix  # the same key prefix as the request store (CLOUDSYNC_PREFIX)
        self.ttl_s = ttl_s
        self.poll_s = poll_s
        self.clock = clock
        self.sleep = sleep
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._extend = redis.register_script(_EXTEND)
        self._enqueue = redis.register_script(_ENQUEUE)
        self.keeper = _Keeper(self)

    # --- leases --------------------------------------------------------------------------

    def try_acquire(self, key: str, owner: str, ttl_s: float | None = None) -> Lease | None:
        """Take the lease if free, with the next fencing token (one atomic call)."""
        ttl = ttl_s or self.ttl_s
        token = int(self._acquire(keys=[key, f"{key}:fence"], args=[owner, int(ttl * 1000)]))
        return Lease(self, key, owner, token, ttl) if token else None

    def _wait_release(self, key: str) -> None:
        """Block until the holder releases (its wake-up token) or a short timeout passes (a
        holder that died releases nothing: its TTL frees the key)."""
        if self.sleep is not time.sleep:  # tests drive time themselves
            self.sleep(self.poll_s)
            return
        # a release wakes one waiter at once; the timeout only bounds how late a waiter notices
        # a holder that died (its TTL frees the key) or a cancellation
        self.redis.blpop([f"{key}:wake"], timeout=max(self.poll_s * 4, 1.0))

    def holder(self, key: str) -> str | None:
        raw = self.redis.get(key)
        return raw.decode().split("|", 1)[0] if raw else None

    def acquire(
        self,
        key: str,
        owner: str,
        *,
        wait_s: float = 0.0,
        ttl_s: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Lease:
        """Take the lease, waiting up to ``wait_s``; raise LeaseBusy naming the holder."""
        deadline = self.clock() + wait_s
        while True:
            lease = self.try_acquire(key, owner, ttl_s)
            if lease is not None:
                return lease
            if self.clock() >= deadline or (should_stop and should_stop()):
                raise LeaseBusy(key, self.holder(key))
            self._wait_release(key)

    def host_lease(self, host: str, owner: str, **kwargs: Any) -> Lease:
        return self.acquire(self.host_key(host), owner, **kwargs)

    def tenant_registration_lease(self, tenant: str, owner: str, **kwargs: Any) -> Lease:
        return self.acquire(self.registration_key(tenant), owner, **kwargs)

    def registration_key(self, tenant: str) -> str:
        return f"{self.prefix}:lease:register:{tenant}"

    def host_key(self, host: str) -> str:
        return f"{self.prefix}:lease:host:{host.upper()}"

    def extend_all(self, leases: list[Lease]) -> list[bool]:
        """Renew each lease still ours (compare-and-extend), all in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for lease in leases:
            self._extend(keys=[lease.key], args=[lease.value, int(lease.ttl_s * 1000)], client=pipe)
        return [bool(ok) for ok in pipe.execute()]

    def release(self, lease: Lease) -> bool:
        """Delete our lease and wake one waiter at once (no polling gap between holders)."""
        return bool(self._release(keys=[lease.key, f"{lease.key}:wake"], args=[lease.value]))

    # --- per-host FIFO -------------------------------------------------------------------

    def queue_key(self, host: str) -> str:
        return f"{self.prefix}:queue:host:{host.upper()}"

    def enqueue(self, request_id: str, hosts: list[str] | tuple[str, ...]) -> None:
        """Append ``request_id`` to each host's queue (atomic, idempotent)."""
        if hosts:
            self._enqueue(keys=[self.queue_key(h) for h in hosts], args=[request_id])

    def done(self, request_id: str, hosts: list[str] | tuple[str, ...]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        for host in hosts:
            pipe.lrem(self.queue_key(host), 0, request_id)
        pipe.execute()

    def head(self, host: str) -> str | None:
        raw = self.redis.lindex(self.queue_key(host), 0)
        return raw.decode() if raw else None

    def queue(self, host: str) -> list[str]:
        return [raw.decode() for raw in self.redis.lrange(self.queue_key(host), 0, -1)]

    def wait_turn(
        self,
        request_id: str,
        host: str,
        *,
        wait_s: float,
        should_stop: Callable[[], bool] | None = None,
    ) -> str | None:
        """Wait until ``request_id`` heads the host's queue. Returns None when it does, else the
        request id at the head when the wait ran out (or stop was asked)."""
        self.enqueue(request_id, [host])
        deadline = self.clock() + wait_s
        while True:
            head = self.head(host)
            if head in (None, request_id):
                return None
            if self.clock() >= deadline or (should_stop and should_stop()):
                return head
            self.sleep(self.poll_s)
