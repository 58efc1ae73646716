"""The metrics endpoint: real HTTP on 127.0.0.1, real Redis (embedded), real prometheus_client."""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import pytest
import redis

from workers.domain.store import RequestStore
from workers.metrics import (
    MetricsServer,
    bot_registry,
    metrics_port,
    notifier_hook,
    observe_step,
    winrm_error_kind,
)
from workers.notify.outbox import Outbox


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_port_setting() -> None:
    assert metrics_port({}) == 9100
    assert metrics_port({"CLOUDSYNC_METRICS_PORT": "0"}) == 0
    assert metrics_port({"CLOUDSYNC_METRICS_PORT": "9200"}) == 9200


def test_metrics_and_healthz(rclient: redis.Redis) -> None:
    store = RequestStore(rclient, prefix="mt")
    outbox = Outbox(rclient, prefix="mt")
    outbox.post("C01OPS", text="hello")
    notifier_hook("retried", {"label": "ratelimited"})
    observe_step("domain:contoso.com", "done", 0.3)
    server = MetricsServer(
        bot_registry(store, outbox), health=lambda: True, port=0, addr="127.0.0.1"
    ).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert _get(base + "/healthz") == (200, "ok")
        status, text = _get(base + "/metrics")
        assert status == 200
        assert 'cloudsync_requests{state="pending_approval"} 0.0' in text
        assert "cloudsync_outbox_depth 1.0" in text
        assert 'cloudsync_slack_notifier_total{event="retried",label="ratelimited"}' in text
        assert 'cloudsync_step_duration_seconds_count{status="done",step="domain"}' in text
        assert _get(base + "/nope")[0] == 404
    finally:
        server.stop()


def test_unhealthy_is_503(rclient: redis.Redis) -> None:
    def broken() -> bool:
        raise ConnectionError("redis down")

    store = RequestStore(rclient, prefix="mt2")
    server = MetricsServer(
        bot_registry(store, Outbox(rclient, prefix="mt2")), health=broken, port=0, addr="127.0.0.1"
    ).start()
    try:
        assert _get(f"http://127.0.0.1:{server.port}/healthz")[0] == 503
    finally:
        server.stop()


def test_taken_port_is_not_fatal(rclient: redis.Redis) -> None:
    store = RequestStore(rclient, prefix="mt3")
    first = MetricsServer(bot_registry(store, None), health=lambda: True, port=0, addr="127.0.0.1")  # type: ignore[arg-type]
    first.start()
    try:
        second = MetricsServer(
            bot_registry(store, None),  # type: ignore[arg-type]
            health=lambda: True,
            port=first.port,
            addr="127.0.0.1",
        ).start()
        assert not second.running
    finally:
        first.stop()


def test_error_kinds() -> None:
    assert winrm_error_kind("HTTPConnectionPool: read timed out") == "timeout"
    assert winrm_error_kind("Connection refused") == "connection"
    assert winrm_error_kind("the WinRM login was refused (401)") == "login"


def test_metrics_folders_of_gone_workers_are_removed(tmp_path, monkeypatch) -> None:
    """Each worker's multiprocess folder goes with it (worker_shutdown); one left by a worker
    that was killed is removed by the next worker to start on the host."""
    import subprocess
    import sys

    from workers import metrics

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = tmp_path / f"cloudsync-metrics-{int(gone.stdout)}"
    living = tmp_path / f"cloudsync-metrics-{os.getppid()}"
    for folder in (dead, living):
        folder.mkdir()
    monkeypatch.setenv(metrics.MULTIPROC_ENV, "")  # restored after the test
    mine = metrics.prepare_multiprocess(tmp_path)
    assert mine.is_dir() and living.is_dir() and not dead.exists()
    metrics.remove_multiprocess_folder()
    assert not mine.exists() and living.is_dir()


def _get_with(url: str, headers: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def test_loopback_by_default(rclient: redis.Redis) -> None:
    from workers.settings import Settings

    assert Settings.from_env({}).metrics_addr == "127.0.0.1"
    server = MetricsServer(
        bot_registry(RequestStore(rclient, prefix="mt4"), Outbox(rclient, prefix="mt4")),
        health=lambda: True,
        port=0,
    ).start()
    try:
        assert server.running and server.addr == "127.0.0.1"
        assert _get(f"http://127.0.0.1:{server.port}/healthz") == (200, "ok")
    finally:
        server.stop()


def test_a_token_guards_metrics_but_not_healthz(rclient: redis.Redis, tmp_path) -> None:
    from workers.settings import Settings

    (tmp_path / "token").write_text("s3cret-scrape-token\n")
    settings = Settings.from_env({"CLOUDSYNC_METRICS_TOKEN_FILE": str(tmp_path / "token")})
    assert settings.metrics_token == "s3cret-scrape-token"
    store = RequestStore(rclient, prefix="mt5")
    server = MetricsServer(
        bot_registry(store, Outbox(rclient, prefix="mt5")),
        health=lambda: True,
        port=0,
        addr="127.0.0.1",
        token=settings.metrics_token,
    ).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        status, body, headers = _get_with(base + "/metrics", {})
        assert status == 401 and "cloudsync_" not in body
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert _get_with(base + "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
        assert (
            _get_with(base + "/metrics", {"Authorization": "Basic s3cret-scrape-token"})[0] == 401
        )
        good = {"Authorization": "Bearer s3cret-scrape-token"}
        status, body, _ = _get_with(base + "/metrics", good)
        assert status == 200 and "cloudsync_requests" in body
        assert _get(base + "/healthz") == (200, "ok")
    finally:
        server.stop()


def test_unhealthy_says_only_not_ok(rclient: redis.Redis) -> None:
    def broken() -> bool:
        raise ConnectionError("redis at 10.0.0.5:6379 refused")

    store = RequestStore(rclient, prefix="mt6")
    server = MetricsServer(
        bot_registry(store, Outbox(rclient, prefix="mt6")), health=broken, port=0, addr="127.0.0.1"
    ).start()
    try:
        assert _get(f"http://127.0.0.1:{server.port}/healthz") == (503, "not ok")
    finally:
        server.stop()


def test_served_by_prometheus_clients_wsgi_app(rclient: redis.Redis) -> None:
    """make_wsgi_app's own rules apply, e.g. GET only (405 with an Allow header otherwise)."""
    server = MetricsServer(
        bot_registry(RequestStore(rclient, prefix="mt7"), Outbox(rclient, prefix="mt7")),
        health=lambda: True,
        port=0,
        addr="127.0.0.1",
    ).start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        request = urllib.request.Request(url, data=b"", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 405 and refused.value.headers["Allow"] == "OPTIONS,GET"
    finally:
        server.stop()


def test_redis_gauges_are_read_once_per_cache_lifetime(rclient: redis.Redis) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from workers.metrics import RedisStateCollector

    now = [100.0]
    outbox = Outbox(rclient, prefix="mt8")
    collector = RedisStateCollector(
        RequestStore(rclient, prefix="mt8"), outbox, cache_s=5.0, clock=lambda: now[0]
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    outbox.post("C01OPS", text="one")
    assert b"cloudsync_outbox_depth 1.0" in generate_latest(registry)
    outbox.post("C01OPS", text="two")
    now[0] += 4.9
    assert b"cloudsync_outbox_depth 1.0" in generate_latest(registry)  # cached
    now[0] += 0.2
    assert b"cloudsync_outbox_depth 2.0" in generate_latest(registry)  # read again
