"""A real Celery worker process serves its metrics endpoint as the settings say: on the port
and loopback address given, /metrics behind the bearer token, /healthz open."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.local.stack import LocalStack
from workers.domain.config import load_config
from workers.settings import Settings

TOKEN = "worker-scrape-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait_listening(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _get(url)
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"nothing listens at {url}")


def test_worker_endpoint_uses_the_settings(tmp_path: Path) -> None:
    port = _free_port()
    settings = Settings.from_env({"CLOUDSYNC_DATA_DIR": str(tmp_path / "data")})
    stack = LocalStack(
        load_config(settings.config_dir),
        settings,
        persist=False,
        concurrency=1,
        extra_env={"CLOUDSYNC_METRICS_PORT": str(port), "CLOUDSYNC_METRICS_TOKEN": TOKEN},
    )
    stack.start_redis()
    try:
        stack.start_workers(log_path=tmp_path / "worker.log")
        stack.wait_workers_ready()
        base = f"http://127.0.0.1:{port}"
        _wait_listening(base + "/healthz")
        assert _get(base + "/healthz") == (200, "ok")
        assert _get(base + "/metrics")[0] == 401
        status, text = _get(base + "/metrics", TOKEN)
        assert status == 200 and 'cloudsync_requests{state="running"}' in text
    finally:
        stack.stop()


def test_worker_health_is_not_ok_without_its_broker(tmp_path: Path) -> None:
    """Redis (store and broker) killed under a running worker: /healthz answers 503."""
    port = _free_port()
    settings = Settings.from_env({"CLOUDSYNC_DATA_DIR": str(tmp_path / "data")})
    stack = LocalStack(
        load_config(settings.config_dir),
        settings,
        persist=False,
        concurrency=1,
        extra_env={"CLOUDSYNC_METRICS_PORT": str(port)},
    )
    stack.start_redis()
    try:
        stack.start_workers(log_path=tmp_path / "worker.log")
        stack.wait_workers_ready()
        url = f"http://127.0.0.1:{port}/healthz"
        _wait_listening(url)
        assert _get(url) == (200, "ok")
        assert stack.redis_server is not None
        stack.redis_server.kill()
        deadline = time.monotonic() + 15
        while _get(url)[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _get(url)[0] == 503
    finally:
        stack.stop()
