"""A worker's /healthz: not ok when Redis, the broker connection or the embedded beat is down.
Real Redis; the consumer stands in for Celery's (its ``connection`` and ``controller.beat``)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import redis

from workers.health import worker_health


def _url(client: redis.Redis) -> str:
    kw = client.connection_pool.connection_kwargs
    return f"redis://{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/0"


def test_ok_with_redis_broker_and_beat(rclient: redis.Redis) -> None:
    stop = threading.Event()
    beat = threading.Thread(target=stop.wait, daemon=True)
    beat.start()
    consumer = SimpleNamespace(connection=object(), controller=SimpleNamespace(beat=beat))
    healthy = worker_health(rclient, _url(rclient), consumer)
    assert healthy()
    consumer.connection = None  # Celery's consumer while it reconnects to the broker
    assert not healthy()
    consumer.connection = object()
    stop.set()
    beat.join(5)
    assert not healthy(), "the scheduler died"


def test_not_ok_when_the_broker_does_not_answer(rclient: redis.Redis) -> None:
    assert not worker_health(rclient, "redis://127.0.0.1:1/0")()
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    assert not worker_health(dead, _url(rclient))()


def test_a_worker_without_beat_or_consumer(rclient: redis.Redis) -> None:
    assert worker_health(rclient, _url(rclient))()
    consumer = SimpleNamespace(connection=object(), controller=SimpleNamespace(beat=None))
    assert worker_health(rclient, _url(rclient), consumer)()
