"""Prometheus metrics and /healthz for the bot and the workers.

Two sources, chosen so every number is correct whatever the process layout:
- what lives in Redis (open requests by state, outbox depth, dead letters) is read from Redis at
  scrape time by a collector, so every scrape of any process shows the shared truth;
- what happens inside a process (step durations, WinRM errors, Slack sends and retries) is
  counted where it happens: the runner reports to :class:`RunMetrics`, the observer the engine
  gives it, and the Notifier to :func:`notifier_hook`. Celery's prefork children cannot serve
  HTTP and each has its own memory, so the worker uses prometheus_client's multiprocess mode:
  each child writes its samples to mmap files in a per-worker folder and the main process's
  endpoint sums them.
  :func:`prepare_multiprocess` must run before ``prometheus_client`` is first imported.
"""

from __future__ import annotations

import hmac
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from workers.settings import KNOB_DEFAULTS, Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from workers.domain.model import StepResult
    from workers.domain.store import RequestStore
    from workers.notify.outbox import Outbox

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800)


def metrics_port(env: Mapping[str, str]) -> int:
    """CLOUDSYNC_METRICS_PORT of ``env``, as :class:`Settings` reads it; 0 turns it off."""
    return Settings.from_env(env).metrics_port


# --- multiprocess set-up (workers) --------------------------------------------------------------
FOLDER_PREFIX = "cloudsync-metrics-"
# The folder this worker made (inherited by its pool children): multiprocess mode is on.
_multiproc_folder: Path | None = None


def prepare_multiprocess(base: Path | None = None) -> Path:
    """A fresh sample folder for this worker (one per main process: stale files from a previous
    run or another worker on the host must not be summed in). Folders of workers that are gone
    (killed before they could remove theirs) are removed on the way."""
    root = base or Path(tempfile.gettempdir())
    for old in root.glob(f"{FOLDER_PREFIX}*"):
        pid = old.name.removeprefix(FOLDER_PREFIX)
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = root / f"{FOLDER_PREFIX}{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    global _multiproc_folder
    os.environ[MULTIPROC_ENV] = str(folder)  # set for prometheus_client (and the pool children)
    _multiproc_folder = folder
    return folder


def remove_multiprocess_folder() -> None:
    """worker_shutdown: remove the folder this process made (another's is left alone)."""
    global _multiproc_folder
    folder, _multiproc_folder = _multiproc_folder, None
    if folder is not None and folder.name == f"{FOLDER_PREFIX}{os.getpid()}":
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def child_exited(pid: int) -> None:
    """Celery replaced a pool child: drop its live-gauge files (counters are kept, as they
    should be: they are totals)."""
    if _multiproc_folder is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


# --- process-local metrics ----------------------------------------------------------------------
class _Metrics:
    """Created on first use, so a worker can set the multiprocess folder first."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.step_seconds = Histogram(
            "cloudsync_step_duration_seconds",
            "Wall time of one runbook step on one host, by step id and final status.",
            ["step", "status"],
            buckets=STEP_BUCKETS,
        )
        self.winrm_errors = Counter(
            "cloudsync_winrm_errors_total",
            "WinRM failures seen by the runbook, by kind.",
            ["kind"],
        )
        self.slack = Counter(
            "cloudsync_slack_notifier_total",
            "Notifier outcomes: sent (label = method), retried (label = reason), dead, "
            "skipped (posted before a Redis failover lost its removal).",
            ["event", "label"],
        )


_lock = threading.Lock()
_metrics: _Metrics | None = None


def metrics() -> _Metrics:
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = _Metrics()
        return _metrics


def step_kind(result_step: str) -> str:
    """``domain:contoso.com`` -> ``domain``: label values must stay few."""
    return result_step.split(":", 1)[0]


def observe_step(step_id: str, status: str, seconds: float) -> None:
    metrics().step_seconds.labels(step_kind(step_id), status).observe(max(0.0, seconds))


def winrm_error_kind(error: BaseException | str) -> str:
    """A small fixed set of kinds: login, timeout, connection, protocol, lost."""
    text = str(error).lower()
    name = type(error).__name__ if isinstance(error, BaseException) else ""
    if name == "LoginRefused" or "401" in text or "credentials" in text or "login" in text:
        return "login"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "connect" in text or "refused" in text or "reset" in text:
        return "connection"
    if "fault" in text or "500" in text or "invalidselectors" in text:
        return "protocol"
    return "lost"


def count_winrm_error(error: BaseException | str) -> None:
    metrics().winrm_errors.labels(winrm_error_kind(error)).inc()


def notifier_hook(name: str, labels: dict[str, str]) -> None:
    """The Notifier's ``metrics_hook``: sent|retried|dead|skipped with the method or reason."""
    metrics().slack.labels(name, labels.get("label", "")).inc()


# --- values read from Redis, cached for a few seconds --------------------------------------------
STATE_CACHE_S = 5.0  # one Redis read per process per this many seconds, however often scraped


class RedisStateCollector:
    """Open requests by state and outbox depth, read from Redis at most once per ``cache_s``:
    reading them loads every open request, and a scrape (or several scrapers, or a tight
    scrape interval) must not turn into that much Redis work each time. A failed read is not
    cached, so the scrape after an outage reads again."""

    def __init__(
        self,
        store: RequestStore,
        outbox: Outbox | None,
        *,
        cache_s: float = STATE_CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.cache_s = cache_s
        self.clock = clock
        self._lock = threading.Lock()  # concurrent scrapes share one read
        self._cached: tuple[float, list[Any]] | None = None

    def describe(self) -> list[Any]:
        return []  # values come from Redis; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] >= self.cache_s:
                self._cached = (now, self._read())
            families = self._cached[1]
        yield from families

    def _read(self) -> list[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from workers.domain.model import State

        requests = GaugeMetricFamily(
            "cloudsync_requests", "Requests that are not final, by state.", labels=["state"]
        )
        counts = {s.value: 0 for s in State if not s.final}
        for request in self.store.open_requests():
            counts[request.state.value] = counts.get(request.state.value, 0) + 1
        for state, n in sorted(counts.items()):
            requests.add_metric([state], n)
        families: list[Any] = [requests]
        if self.outbox is not None:
            families.append(
                GaugeMetricFamily(
                    "cloudsync_outbox_depth",
                    "Slack messages queued in the durable outbox.",
                    value=self.outbox.depth(),
                )
            )
            families.append(
                GaugeMetricFamily(
                    "cloudsync_outbox_dead",
                    "Slack messages given up on (dead letters).",
                    value=int(self.outbox.redis.llen(self.outbox.keys.dead)),  # type: ignore[arg-type]
                )
            )
        return families


def _registry(extra: Iterator[Any] | list[Any]) -> CollectorRegistry:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    for collector in extra:
        registry.register(collector)
    return registry


def bot_registry(store: RequestStore, outbox: Outbox) -> CollectorRegistry:
    """The bot process: its own counters (notifier) plus the Redis view."""
    from prometheus_client import REGISTRY

    metrics()
    registry = _registry([RedisStateCollector(store, outbox)])
    registry.register(_Forward(REGISTRY))
    return registry


def worker_registry(store: RequestStore, outbox: Outbox | None = None) -> CollectorRegistry:
    """The worker's main process: every pool child's samples (multiprocess) plus Redis."""
    collectors: list[Any] = [RedisStateCollector(store, outbox)]
    if _multiproc_folder is not None:
        from prometheus_client import multiprocess

        registry = _registry(collectors)
        multiprocess.MultiProcessCollector(registry)
        return registry
    from prometheus_client import REGISTRY

    metrics()
    registry = _registry(collectors)
    registry.register(_Forward(REGISTRY))
    return registry


class _Forward:
    """Expose another registry's metrics (the default one, where process metrics live)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        yield from self.source.collect()


# --- the HTTP endpoint --------------------------------------------------------------------------
class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class MetricsServer:
    """A small threaded WSGI server: ``/metrics`` is prometheus_client's own WSGI app
    (``make_wsgi_app``: content negotiation, gzip, ``name[]`` filters); ``/healthz`` is 200 when
    ``health()`` is true, else 503; anything else is 404.

    It listens on 127.0.0.1 unless told otherwise (CLOUDSYNC_METRICS_ADDR). With a ``token``
    (CLOUDSYNC_METRICS_TOKEN), ``/metrics`` answers 401 unless the request carries
    ``Authorization: Bearer <token>`` (what Prometheus sends for a scrape config's
    ``authorization: {credentials_file: ...}``); ``/healthz`` stays open for the container's
    health check and says only "ok" or "not ok"."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        health: Callable[[], bool],
        port: int,
        addr: str | None = None,
        token: str | None = None,
    ) -> None:
        from prometheus_client import make_wsgi_app

        self.registry = registry
        self.health = health
        self.port = port
        self.addr = addr if addr is not None else KNOB_DEFAULTS["metrics_addr"]
        self._token = token.encode() if token else None
        self._metrics_app = make_wsgi_app(registry)
        self._server: WSGIServer | None = None

    def app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return self._healthz(start_response)
        if path == "/metrics":
            if not self._authorized(environ):
                start_response(
                    "401 Unauthorized",
                    [
                        ("Content-Type", "text/plain"),
                        ("WWW-Authenticate", 'Bearer realm="metrics"'),
                    ],
                )
                return [b"unauthorized"]
            try:  # the collection runs before start_response is called
                return list(self._metrics_app(environ, start_response))
            except Exception as exc:  # Redis down: say so, do not crash the thread
                log.warning("metrics collection failed: %s", type(exc).__name__)
                return _plain(start_response, "503 Service Unavailable", b"metrics unavailable")
        return _plain(start_response, "404 Not Found", b"not found")

    def _authorized(self, environ: dict[str, Any]) -> bool:
        if self._token is None:
            return True
        scheme, _, given = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self._token)

    def _healthz(self, start_response: Any) -> list[bytes]:
        try:
            ok = bool(self.health())
        except Exception:
            ok = False
        if ok:
            return _plain(start_response, "200 OK", b"ok")
        return _plain(start_response, "503 Service Unavailable", b"not ok")

    def start(self) -> MetricsServer:
        """Listen in a daemon thread. A port already taken (two processes of a local ``run``)
        is logged, not fatal: metrics must never stop the bot or a worker."""
        try:
            self._server = make_server(
                self.addr, self.port, self.app, server_class=_ThreadingServer, handler_class=_Quiet
            )
        except OSError as exc:
            log.warning("metrics endpoint not started on port %s: %s", self.port, exc.strerror)
            return self
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        return self

    @property
    def running(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _plain(start_response: Any, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [body]


# --- worker wiring (called from workers/tasks.py's Celery signals) -------------------------------
def prepare(settings: Settings) -> None:
    """worker_init, in the main process before the pool forks: the multiprocess folder."""
    import sys

    if not settings.metrics_port or _multiproc_folder is not None:
        return
    if "prometheus_client" in sys.modules:
        log.warning("prometheus_client was imported before the worker set its metrics folder")
    prepare_multiprocess()


def start_endpoint(engine: Any, consumer: Any = None) -> MetricsServer | None:
    """worker_ready, in the main process: serve every child's samples and the Redis view;
    /healthz checks Redis, the broker connection and (with --beat) the scheduler."""
    settings: Settings = engine.settings
    if not settings.metrics_port:
        return None
    from workers.health import worker_health
    from workers.notify.outbox import Outbox

    outbox = Outbox(engine.redis, prefix=settings.prefix)
    registry = worker_registry(engine.store, outbox)
    return MetricsServer(
        registry,
        health=worker_health(engine.redis, settings.broker_url, consumer),
        port=settings.metrics_port,
        addr=settings.metrics_addr,
        token=settings.metrics_token,
    ).start()


class RunMetrics:
    """The runner's observer in the worker: a duration sample for every finished step, and each
    lost WinRM session counted by kind (passed to the Runner by the engine)."""

    FINAL = frozenset({"done", "skipped", "failed", "cancelled"})

    def step_saved(self, request_id: str, result: StepResult) -> None:
        status = result.status.value
        if status in self.FINAL and result.started_at and result.finished_at:
            observe_step(result.step_id, status, result.finished_at - result.started_at)

    def session_lost(self, host: str, error: BaseException) -> None:
        count_winrm_error(error)
