"""A worker's /healthz: ok only while it can do its job.

Not ok when the store's Redis or the broker does not answer a ping, when Celery's consumer has
lost its broker connection (it sets ``connection`` to None while it reconnects), or, in a worker
started with ``--beat``, when the embedded scheduler (thread or process) has died.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis

from workers import redis_connect

log = logging.getLogger(__name__)
PING_TIMEOUT_S = 1.0


def _broker_client(broker_url: str) -> redis.Redis | None:
    """A client of the broker's Redis (a Sentinel URL through its master), None for others."""
    if not broker_url.startswith(("redis://", "rediss://", "unix://", "sentinel://")):
        return None
    return redis_connect.connect(
        broker_url, socket_timeout=PING_TIMEOUT_S, socket_connect_timeout=PING_TIMEOUT_S
    )


def worker_health(store_redis: Any, broker_url: str, consumer: Any = None) -> Callable[[], bool]:
    """``consumer``: the Celery consumer the ``worker_ready`` signal is sent by (None: not
    known; its connection and the worker's beat are then not checked)."""
    broker = _broker_client(broker_url)

    def healthy() -> bool:
        try:
            if not store_redis.ping():
                return False
            if broker is not None and not broker.ping():
                return False
        except (redis.RedisError, OSError):
            return False
        if consumer is not None and getattr(consumer, "connection", True) is None:
            return False  # reconnecting to the broker
        beat = getattr(getattr(consumer, "controller", None), "beat", None)
        is_alive = getattr(beat, "is_alive", None)
        return not (callable(is_alive) and not is_alive())

    return healthy
