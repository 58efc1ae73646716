"""A loopback Redis Sentinel group (a primary, replicas, sentinels) for failover tests.

It runs the same redis-server binary as :mod:`bot.local.redis_embedded` (``--sentinel`` with a
generated configuration in a temporary folder; Sentinel rewrites that file as it learns), so a
test can kill the primary and watch a replica take over, as in a production Sentinel setup
(https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import redis

from bot.local.child_process import ends_with_parent, stop_process
from bot.local.redis_embedded import (
    EmbeddedRedis,
    RedisUnavailable,
    find_redis_server,
    free_port,
    wait_until_answering,
)

MASTER_NAME = "cloudsync"


class EmbeddedSentinel:
    """One ``redis-server --sentinel`` on 127.0.0.1 monitoring a loopback primary."""

    def __init__(
        self,
        folder: Path,
        primary_port: int,
        *,
        master: str = MASTER_NAME,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.primary_port = primary_port
        self.master = master
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.process: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"sentinel-{self.port}.conf"
        m = self.master
        path.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    "daemonize no",
                    f"dir {self.folder}",
                    f"sentinel monitor {m} 127.0.0.1 {self.primary_port} {self.quorum}",
                    f"sentinel down-after-milliseconds {m} {self.down_after_ms}",
                    f"sentinel failover-timeout {m} {self.failover_timeout_ms}",
                    f"sentinel parallel-syncs {m} 1",
                    "",
                ]
            )
        )
        return path

    def start(self, timeout: float = 10.0) -> EmbeddedSentinel:
        self.process = subprocess.Popen(
            [find_redis_server(), str(self._config()), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=ends_with_parent(),
        )
        wait_until_answering(self.process, self.client(), timeout, "redis sentinel", self.stop)
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=1.0)

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None


class SentinelGroup:
    """A primary, ``replicas`` replicas and ``sentinels`` sentinels, all on loopback. ``url`` is
    the ``REDIS_URL`` that reaches the group (``sentinel://...``, see workers.redis_connect)."""

    def __init__(
        self,
        folder: Path,
        *,
        replicas: int = 1,
        sentinels: int = 3,
        master: str = MASTER_NAME,
        down_after_ms: int = 1000,
    ) -> None:
        self.folder = folder
        self.master = master
        # a folder each: a full resync writes an RDB file there (else into the cwd)
        self.servers: list[EmbeddedRedis] = [EmbeddedRedis(folder / "redis-0", appendonly=False)]
        primary = self.servers[0].port
        self.servers += [
            EmbeddedRedis(folder / f"redis-{i}", appendonly=False, replica_of=primary)
            for i in range(1, replicas + 1)
        ]
        quorum = sentinels // 2 + 1
        self.sentinels = [
            EmbeddedSentinel(
                folder, primary, master=master, quorum=quorum, down_after_ms=down_after_ms
            )
            for _ in range(sentinels)
        ]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"sentinel://{hosts}/{self.master}/0"

    def start(self, timeout: float = 60.0) -> SentinelGroup:
        for server in self.servers:
            server.start()
        for sentinel in self.sentinels:
            sentinel.start()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every replica is in sync and every sentinel knows the replicas and the other
        sentinels: only then can they agree the primary is down and elect a leader."""
        deadline = time.monotonic() + timeout
        others = len(self.sentinels) - 1
        replicas = len(self.servers) - 1
        while time.monotonic() < deadline:
            try:
                if all(self._knows(s, others, replicas) for s in self.sentinels):
                    return
            except redis.RedisError:
                pass
            time.sleep(0.1)
        raise RedisUnavailable("the sentinel group did not form in time")

    def _knows(self, sentinel: EmbeddedSentinel, others: int, replicas: int) -> bool:
        client = sentinel.client()
        try:
            known = client.sentinel_sentinels(self.master)
            listed = client.sentinel_slaves(self.master)
            if not isinstance(known, list) or not isinstance(listed, list):
                return False
            seen = [r for r in listed if not r.get("is_sdown")]
            synced = [r for r in seen if r.get("master-link-status") == "ok"]
            return len(known) >= others and len(synced) >= replicas
        finally:
            client.close()

    def primary_port(self) -> int | None:
        """The primary's port as a majority-reachable sentinel reports it (None: unknown)."""
        for sentinel in self.sentinels:
            if sentinel.process is None:
                continue
            client = sentinel.client()
            try:
                addr = client.sentinel_get_master_addr_by_name(self.master)
                if isinstance(addr, tuple | list):
                    return int(addr[1])
            except redis.RedisError:
                continue
            finally:
                client.close()
        return None

    def primary(self) -> EmbeddedRedis:
        port = self.primary_port()
        return next(s for s in self.servers if s.port == port)

    def kill_primary(self) -> EmbeddedRedis:
        """SIGKILL the current primary (no shutdown, nothing more replicated)."""
        server = self.primary()
        server.kill()
        return server

    def wait_failover(self, old_port: int, timeout: float = 30.0) -> int:
        """Until the sentinels name a new primary that answers as one; its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.primary_port()
            if port is not None and port != old_port:
                with contextlib.suppress(redis.RedisError):
                    client = redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=1)
                    try:
                        if client.info("replication").get("role") == "master":
                            return port
                    finally:
                        client.close()
            time.sleep(0.05)
        raise RedisUnavailable(f"no failover within {timeout:.0f} s")

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in self.servers:
            server.stop()

    def __enter__(self) -> SentinelGroup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
