"""The metrics endpoint: real HTTP on 127.0.0.1, real Redis (embedded), real prometheus_client."""

from __future__ import annotations

import os
import urllib.error
import urllib.request

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
