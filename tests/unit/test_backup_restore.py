"""README's "Backup and restore", done as written: BGREWRITEAOF, copy the append-only files of
a running Redis, put them into an empty data folder before a Redis starts there; the requests
and the audit trail are back (real redis-server processes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from bot.local.redis_embedded import EmbeddedRedis
from tests.support import eventually
from workers.domain.store import RequestStore


def _copy_appendonly(source: Path, target: Path) -> list[str]:
    """``appendonly.aof`` (Redis 6) or the ``appendonlydir/`` folder (Redis 7)."""
    target.mkdir(parents=True)
    copied = []
    for item in sorted(source.glob("appendonly*")):
        if item.is_dir():
            shutil.copytree(item, target / item.name)
        else:
            shutil.copy2(item, target / item.name)
        copied.append(item.name)
    return copied


def test_a_copied_append_only_file_restores_the_trail(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "live") as live:
        client = redis.Redis.from_url(live.url)
        store = RequestStore(client)
        store.record("CS-0001", "requested", actor="U01ALICE", data={"note": "before backup"})
        client.bgrewriteaof()
        eventually(
            lambda: (
                client.info("persistence")["aof_rewrite_in_progress"] == 0
                and client.info("persistence")["aof_rewrite_scheduled"] == 0
            ),
            what="the AOF rewrite to end",
            timeout=30,
        )
        store.record("CS-0001", "denied", actor="U03CAROL", data={"reason": "after rewrite"})
        copied = _copy_appendonly(tmp_path / "live", tmp_path / "restored")
        client.close()
    assert copied, "the append-only files are in the data folder"
    with EmbeddedRedis(tmp_path / "restored") as restored:
        client = redis.Redis.from_url(restored.url)
        events = RequestStore(client).events(request_id="CS-0001")
        assert [e.name for e in events] == ["requested", "denied"]
        assert events[-1].data["reason"] == "after rewrite"
        client.close()
