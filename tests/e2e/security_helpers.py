"""What an attack must leave untouched, read from the real pieces: each simulated host's own
record (HTTP requests, processes, script blocks) and every key in Redis."""

from __future__ import annotations

from typing import Any

import redis

from tests.e2e.harness import E2EStack

# Keys that move without any request being touched: the replay guard's memory, the projector's
# markers and consumer group, the outbox the notifier drains, read rate counters, Celery's
# bookkeeping and the worker heartbeats/leases of an idle stack.
VOLATILE = (
    ":seen-signature:",
    ":projected:",
    ":read-rate:",
    ":outbox",
    ":ob:",
    "_kombu",
    "unacked",
    "celery",
    ":worker",
    ":heartbeat",
)


def host_activity(e2e: E2EStack) -> dict[str, tuple[int, int, int]]:
    """Per simulated host: WinRM HTTP requests, processes started, script blocks compiled."""
    assert e2e.local.stack.sim is not None
    out = {}
    for name, host in e2e.local.stack.sim.world.hosts.items():
        record = host.record.to_dict()
        out[name] = (
            int(record["http_requests"]),
            len(record["command_lines"]),
            len(record["script_blocks"]),
        )
    return out


def _value(client: redis.Redis, key: bytes, kind: str) -> Any:
    if kind == "string":
        return client.get(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "set":
        return sorted(client.smembers(key))
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "stream":
        return None  # compared through new_events
    return kind


def redis_state(e2e: E2EStack) -> dict[str, Any]:
    """Every key and value in Redis but the VOLATILE ones (streams by name only)."""
    client = redis.Redis.from_url(e2e.redis_url)
    try:
        out: dict[str, Any] = {}
        for key in client.scan_iter(count=1000):
            name = key.decode()
            if any(v in name for v in VOLATILE):
                continue
            out[name] = _value(client, key, client.type(key).decode())
        return out
    finally:
        client.close()


def last_event_id(e2e: E2EStack) -> str:
    entries = e2e.store.redis.xrevrange(e2e.store.events_key, count=1)
    return entries[0][0].decode() if entries else "0"


def new_events(e2e: E2EStack, after: str) -> list[dict[str, Any]]:
    """Events appended since ``after`` (an id from last_event_id)."""
    from workers.domain.store import decode_event

    raw = e2e.store.redis.xrange(e2e.store.events_key, min=f"({after}", max="+")
    return [decode_event(entry, fields).to_dict() for entry, fields in raw]


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    keys = set(before) | set(after)
    return {k: (before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)}
