"""Serving real Slack: Socket Mode (default with SLACK_APP_TOKEN) or HTTP mode.

HTTP mode runs the Bolt app behind gunicorn's threaded worker (one process, many threads), the
way the README recommends for production: Bolt's built-in development server is single-threaded
and falls over under concurrent clients. The projector and the notifier run beside the app in
the same process, once; so does the Prometheus endpoint (CLOUDSYNC_METRICS_PORT, default 9100),
started after gunicorn forks so it reports the process that does the work.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bot.app import build_app, make_web_client
from bot.context import BotContext, build_context
from bot.health import SlackProbe, bot_health
from bot.local.stack import LocalStack
from bot.projector import Projector
from workers import redis_connect
from workers.domain.config import Config
from workers.metrics import MetricsServer, bot_registry, notifier_hook
from workers.notify.notifier import Notifier
from workers.settings import Settings

log = logging.getLogger(__name__)


class BotProcess:
    """The Slack-side process: Bolt app + projector + notifier + expiry sweeps."""

    def __init__(self, config: Config, settings: Settings, redis_url: str) -> None:
        if not settings.slack_bot_token:
            raise SystemExit("SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE) is required to serve Slack")
        self.config = config
        self.settings = settings
        self.ctx: BotContext = build_context(config, redis_url, prefix=settings.prefix)
        token = settings.slack_bot_token
        client = make_web_client(token, settings.slack_api_url)
        self.app = build_app(
            self.ctx,
            token=token,
            signing_secret=settings.slack_signing_secret or "",
            client=client,
        )
        self.stop_event = threading.Event()
        self.projector = Projector(
            self.ctx.store, self.ctx.outbox, config, sealer=self.ctx.service.sealer
        )
        self.notifier = Notifier(
            self.ctx.redis,
            lambda: make_web_client(token, settings.slack_api_url),
            prefix=settings.prefix,
            metrics_hook=notifier_hook,
        )
        self.threads: list[threading.Thread] = []
        self.metrics_server: MetricsServer | None = None
        self.healthy = bot_health(self.ctx.redis, SlackProbe(client))

    def start_metrics(self) -> None:
        """/metrics and /healthz on CLOUDSYNC_METRICS_PORT (0 = off), once per process."""
        if self.metrics_server is not None:
            return
        port = self.settings.metrics_port
        if not port:
            return
        registry = bot_registry(self.ctx.store, self.ctx.outbox)
        self.metrics_server = MetricsServer(
            registry,
            health=self.healthy,  # Redis and Slack both reachable
            port=port,
            addr=self.settings.metrics_addr,
            token=self.settings.metrics_token,
        ).start()

    def start_background(self) -> None:
        self.ctx.dispatcher.warm()  # in the process that serves (after gunicorn's fork)
        for name, target in (
            ("projector", lambda: self.projector.run_forever(self.stop_event)),
            ("notifier", lambda: self.notifier.run_forever(self.stop_event)),
            ("expiry", self._expiry_loop),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def _expiry_loop(self) -> None:
        while not self.stop_event.wait(15.0):
            try:
                self.ctx.service.expire_due()
                # the audit stream's retention, also here: not every deployment runs beat
                self.ctx.store.trim_events(self.settings.audit_retention_days)
            except Exception:
                log.exception("expiry sweep failed")

    def stop(self) -> None:
        self.stop_event.set()
        if self.metrics_server is not None:
            self.metrics_server.stop()
        for thread in self.threads:
            thread.join(timeout=5)


def run_gunicorn(
    wsgi: Callable[..., Any],
    bind: str,
    *,
    threads: int = 16,
    post_worker_init: Callable[[], None] | None = None,
) -> None:
    """Serve ``wsgi`` with gunicorn's threaded worker: one process, ``threads`` request threads.

    One worker process on purpose: the projector and notifier live beside the app and must run
    once; threads are enough because a Bolt listener only acks and hands work to Redis/Celery.
    """
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", 1)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("keepalive", 5)
            self.cfg.set("backlog", 2048)
            self.cfg.set("worker_connections", 1000)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("accesslog", None)
            if post_worker_init is not None:
                self.cfg.set("post_worker_init", lambda worker: post_worker_init())

        def load(self) -> Any:
            return wsgi

    _Gunicorn(usage=None).run()


def _with_healthz(
    handler: Callable[..., Any], healthy: Callable[[], bool] = lambda: True
) -> Callable[..., Any]:
    """/healthz on the Slack port too (load balancers probe the port they route to)."""

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "") == "/healthz":
            if healthy():
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"ok"]
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"redis or slack unreachable"]
        return handler(environ, start_response)

    return application


def serve_http(bot: BotProcess, bind: str, threads: int = 16) -> None:
    """gunicorn, threaded worker; projector, notifier and /metrics start in the worker. The
    signature is checked on the raw body before Bolt parses it (``bot.http_guard``)."""
    from bot.http_guard import slack_wsgi

    def after_fork() -> None:
        bot.start_background()
        bot.start_metrics()

    run_gunicorn(
        _with_healthz(slack_wsgi(bot.app, bot.settings.slack_signing_secret or ""), bot.healthy),
        bind,
        threads=threads,
        post_worker_init=after_fork,
    )


def startup_error(command: str, message: str) -> int:
    """One paragraph on stderr, no traceback: what is wrong and what to do."""
    print(f"cloudsync {command}: {message}", file=sys.stderr)
    return 2


def redis_problem(url: str, timeout_s: float = 3.0) -> str | None:
    """Why Redis at ``url`` cannot be used, or None (the password is never shown)."""
    client = redis_connect.connect(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
    except redis.RedisError as exc:
        where = redis_where(url)
        return (
            f"cannot reach Redis at {where} ({type(exc).__name__}: {exc}). Start it, or set "
            "REDIS_URL to the bot's Redis (redis://host:6379/0)."
        )
    finally:
        client.close()
    return None


def redis_where(url: str) -> str:
    """``url`` without its credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}:{parts.port or 6379}{parts.path}"


def serve(
    config: Config,
    settings: Settings,
    *,
    http: str | None,
    local_workers: int = 0,
    concurrency: int = 2,
    threads: int = 16,
) -> int:
    if not settings.slack_bot_token:
        return startup_error(
            "serve",
            "SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE) is not set: it is the app's Bot User OAuth "
            "Token (xoxb-...), under OAuth & Permissions once the app is installed. Without "
            "Slack settings, `cloudsync run` starts the local console instead.",
        )
    # the one-process `cloudsync run` has no beat service: its first local worker runs beat
    # (approval expiry, stalled-run recovery, the fleet watch), as `cloudsync worker --beat`
    stack = LocalStack(
        config, settings, workers=local_workers, concurrency=concurrency, beat=local_workers > 0
    )
    stack.start_redis()
    problem = redis_problem(stack.redis_url)
    if problem:
        stack.stop()
        return startup_error("serve", problem)
    if local_workers:  # only workers talk WinRM: the simulator is theirs
        stack.start_simulator()
        stack.start_workers(log_path=None)
    try:
        try:
            bot = BotProcess(config, settings, stack.redis_url)
        except (BoltError, SlackApiError, OSError) as exc:  # Bolt's auth.test at start-up
            return startup_error(
                "serve",
                f"Slack did not accept or could not be reached to verify the bot token "
                f"(auth.test at {settings.slack_api_url or 'https://slack.com/api/'}): "
                f"{type(exc).__name__}: {exc}. Check SLACK_BOT_TOKEN, SLACK_API_URL and the "
                "network or proxy; `cloudsync doctor` says more.",
            )
        if http:
            if not settings.slack_signing_secret:
                raise SystemExit("HTTP mode needs SLACK_SIGNING_SECRET")
            serve_http(bot, http, threads)
            return 0
        if not settings.slack_app_token:
            raise SystemExit(
                "Socket Mode needs SLACK_APP_TOKEN (xapp-...); or use --http HOST:PORT"
            )
        return serve_socket_mode(bot, settings.slack_app_token)
    finally:
        stack.stop()


def serve_socket_mode(bot: BotProcess, app_token: str) -> int:
    """Bolt's built-in Socket Mode client until SIGTERM or Ctrl-C.

    The client calls ``apps.connections.open`` through the app's own WebClient (Bolt's default),
    so SLACK_API_URL (a proxy, GovSlack, the loopback server) serves it too. Not
    ``handler.start()``: it blocks on an Event nobody sets, so a SIGTERM that closed the client
    left the process running.
    """
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    bot.start_background()
    bot.start_metrics()
    handler = SocketModeHandler(bot.app, app_token, web_client=bot.app.client)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        try:
            handler.connect()
        except SlackApiError as exc:
            return startup_error(
                "serve",
                f"Slack refused the app-level token (apps.connections.open: "
                f"{exc.response.get('error')}). SLACK_APP_TOKEN must be the app's xapp- token "
                "with connections:write (Basic Information, App-Level Tokens).",
            )
        log.info("Socket Mode connected; serving until SIGTERM")
        stopping.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        handler.close()
        bot.stop()
