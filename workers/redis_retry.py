"""Riding out a short Redis outage (a restart, a failover) instead of failing a run.

Redis is the source of truth for progress and leases; when it is briefly unreachable the worker
waits and retries (bounded) rather than abandoning a step that already ran on the server."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

log = logging.getLogger(__name__)
T = TypeVar("T")

OUTAGE_BUDGET_S = 120.0


def retrying(fn: Callable[[], T], *, budget_s: float = OUTAGE_BUDGET_S, what: str = "redis") -> T:
    deadline = time.monotonic() + budget_s
    delay = 0.1
    while True:
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("%s unavailable (%s); retrying in %.1f s", what, type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
