"""Shared fixtures: a private redis-server per test session (never a system Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from bot.local.redis_embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def private_redis() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(appendonly=False).start()
    yield server
    server.stop()


@pytest.fixture()
def rclient(private_redis: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(private_redis.url)
    client.flushall()
    yield client
    client.close()
