"""Small pieces on the way from an approval to the first step: the cancellation watch and the
warmed broker connection."""

from __future__ import annotations

import threading
import time

import redis

from bot.local.redis_embedded import EmbeddedRedis, free_port
from tests.support import eventually
from workers.cancel_watch import CancelWatch
from workers.dispatch import CeleryDispatcher


def test_cancel_watch_answers_from_memory_and_survives_read_errors() -> None:
    cancelled = threading.Event()
    reads: list[int] = []

    def stopped() -> bool:
        reads.append(1)
        if len(reads) == 2:
            raise redis.ConnectionError("Redis went away for a moment")
        return cancelled.is_set()

    with CancelWatch(stopped, interval_s=0.01) as should_stop:
        assert not should_stop()
        # the failed read did not end the watch
        eventually(lambda: len(reads) >= 3, what="the watch to read again after a read error")
        before = len(reads)
        for _ in range(100):
            should_stop()  # asking reads nothing
        assert len(reads) - before < 100
        cancelled.set()
        eventually(should_stop, what="the watch to see the cancellation")
    assert should_stop()


def test_cancel_watch_keeps_when_the_cancel_was_asked() -> None:
    cancelled = threading.Event()
    with CancelWatch(cancelled.is_set, interval_s=0.01, asked_at=lambda: 1000.0) as watch:
        assert watch.requested_at is None
        cancelled.set()
        eventually(watch, what="the watch to see the cancellation")
    assert watch.requested_at == 1000.0  # the request's own time, not when the watch saw it

    def broken() -> float | None:
        raise redis.ConnectionError("Redis went away for a moment")

    before = time.time()
    with CancelWatch(lambda: True, interval_s=0.01, asked_at=broken) as watch:
        eventually(watch, what="the watch to see the cancellation")
    assert watch.requested_at is not None and watch.requested_at >= before  # when it saw it


def test_warm_declares_the_task_queue_before_the_first_approval() -> None:
    # a Redis of its own: kombu remembers declarations per broker URL for the whole process
    server = EmbeddedRedis(appendonly=False).start()
    try:
        client = redis.Redis.from_url(server.url)
        CeleryDispatcher(server.url, client=client).warm()
        assert client.exists("_kombu.binding.cloudsync")
        assert client.llen("cloudsync") == 0  # warming sends no task
    finally:
        server.stop()


def test_warm_without_a_broker_only_logs(caplog) -> None:
    CeleryDispatcher(f"redis://127.0.0.1:{free_port()}/0").warm()
    assert "could not warm the broker connection" in caplog.text


def test_every_task_send_goes_through_the_dispatcher() -> None:
    """The engine asks the dispatcher (recover included); only workers/dispatch.py sends."""
    import json
    from pathlib import Path

    from workers.celery_app import TASK_RECOVER

    root = Path(__file__).resolve().parents[2]
    senders = [
        str(path.relative_to(root))
        for folder in ("bot", "workers")
        for path in (root / folder).rglob("*.py")
        if "send_task(" in path.read_text() or ".celery.send" in path.read_text()
    ]
    assert senders == ["workers/dispatch.py"]

    server = EmbeddedRedis(appendonly=False).start()
    try:
        client = redis.Redis.from_url(server.url)
        CeleryDispatcher(server.url, client=client).recover(countdown=3.0)
        [raw] = client.lrange("cloudsync", 0, -1)
        message = json.loads(raw)
        assert message["headers"]["task"] == TASK_RECOVER
        assert message["headers"]["eta"]  # the countdown travelled with it
    finally:
        server.stop()
