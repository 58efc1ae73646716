"""Serving real Slack: Socket Mode (default with SLACK_APP_TOKEN) or HTTP mode.

HTTP mode runs the Bolt app behind gunicorn's threaded worker (one process, many threads), the
way the README recommends for production: Bolt's built-in development server is single-threaded
and falls over under concurrent clients. The projector and the notifier run beside the app in
the same process, once.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from bot.app import build_app, make_web_client
from bot.context import BotContext, build_context
from bot.localstack import LocalStack
from bot.projector import Projector
from workers.domain.config import Config
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
        self.projector = Projector(self.ctx.store, self.ctx.outbox, config)
        self.notifier = Notifier(
            self.ctx.redis,
            lambda: make_web_client(token, settings.slack_api_url),
            prefix=settings.prefix,
        )
        self.threads: list[threading.Thread] = []

    def start_background(self) -> None:
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
            except Exception:
                log.exception("expiry sweep failed")

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=5)


def _parse_bind(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "0.0.0.0", int(port)


def serve_http(bot: BotProcess, bind: str, threads: int = 16) -> None:
    """gunicorn, threaded worker, in this process's child; projector/notifier in the worker."""
    from gunicorn.app.base import BaseApplication
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    handler = SlackRequestHandler(bot.app)

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return handler(environ, start_response)

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", 1)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("keepalive", 5)
            self.cfg.set("accesslog", None)
            self.cfg.set("post_worker_init", lambda worker: bot.start_background())

        def load(self) -> Any:
            return application

    _Gunicorn().run()


def serve(
    config: Config,
    settings: Settings,
    *,
    http: str | None,
    local_workers: int = 0,
    concurrency: int = 2,
    threads: int = 16,
) -> int:
    stack = LocalStack(config, settings, workers=local_workers, concurrency=concurrency)
    stack.start()
    if local_workers:
        stack.start_workers(log_path=None)
    try:
        bot = BotProcess(config, settings, stack.redis_url)
        if http:
            if not settings.slack_signing_secret:
                raise SystemExit("HTTP mode needs SLACK_SIGNING_SECRET")
            serve_http(bot, http, threads)
            return 0
        if not settings.slack_app_token:
            raise SystemExit(
                "Socket Mode needs SLACK_APP_TOKEN (xapp-...); or use --http HOST:PORT"
            )
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        bot.start_background()
        handler = SocketModeHandler(bot.app, settings.slack_app_token)
        signal.signal(signal.SIGTERM, lambda *_: handler.close())
        handler.start()
        return 0
    finally:
        stack.stop()
