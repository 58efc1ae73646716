"""Whether the Redis primary has replicas, so the notifier knows when ``WAIT`` is worth asking.

``WAIT numreplicas timeout`` blocks until that many replicas acknowledged the connection's
earlier writes, or the timeout passes, and answers how many did
(https://redis.io/docs/latest/commands/wait/). On a single Redis without replicas it would
always run into its timeout, so it is only sent while ``INFO replication`` shows connected
replicas; the count is cached for a few seconds and re-read after a WAIT nobody acknowledged (a
replica gone, or a new primary after a failover).
"""

from __future__ import annotations

import threading
import time

import redis
from redis.client import Pipeline

REFRESH_S = 5.0


class Replicas:
    def __init__(
        self, client: redis.Redis, *, wait_ms: int = 100, refresh_s: float = REFRESH_S
    ) -> None:
        """``wait_ms``: the longest a WAIT may hold a lane (0: never WAIT, no replica assumed)."""
        self.client = client
        self.wait_ms = wait_ms
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._count = 0
        self._read_at = -float("inf")

    def count(self) -> int:
        """Connected replicas of the primary (cached ``refresh_s``)."""
        if self.wait_ms <= 0:
            return 0
        now = time.monotonic()
        with self._lock:
            if now - self._read_at < self.refresh_s:
                return self._count
        info = self.client.info("replication")
        count = int(info.get("connected_slaves", 0)) if info.get("role") == "master" else 0
        with self._lock:
            self._count, self._read_at = count, now
        return count

    def forget(self) -> None:
        """Read the count again next time."""
        with self._lock:
            self._read_at = -float("inf")

    def add_wait(self, pipe: Pipeline) -> bool:
        """Queue ``WAIT 1 wait_ms`` after the writes in ``pipe`` (one connection: WAIT counts
        that connection's writes) when there are replicas; False when there are none. ``pipe``
        is a plain pipeline: inside MULTI, WAIT answers at once instead of waiting."""
        if self.count() == 0:
            return False
        pipe.execute_command("WAIT", 1, self.wait_ms)
        return True

    def acknowledged(self, answer: object) -> bool:
        """Whether WAIT's answer says a replica holds the writes; if not, re-read the count."""
        if isinstance(answer, int) and answer >= 1:
            return True
        self.forget()
        return False
