"""The whole bot on one machine: loopback Slack, local stack, Bolt app, projector, notifier.

Shared by the local console, the end-to-end tests and the benchmarks, so all three exercise the
same real pieces: Bolt's dispatch, Redis, Celery worker processes, WinRM to simulated hosts.
"""

from __future__ import annotations

import contextlib
import logging
import secrets as pysecrets
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from slack_bolt import App

from bot.app import build_app, make_web_client
from bot.context import BotContext, build_context
from bot.local.fleet_watch import WatchTicker
from bot.local.stack import LocalStack
from bot.projector import Projector, card_key
from simulator.slack_api import LoopbackSlack
from workers.dispatch import busy_key
from workers.domain.config import Config
from workers.domain.model import State
from workers.notify.notifier import Notifier
from workers.settings import Settings

log = logging.getLogger(__name__)
LOCAL_TOKEN = "xoxb-local-console"
RECOVER_INTERVAL_S = 60.0  # as beat's recover-stalled entry (workers.celery_app)


def workspace_channels(config: Config) -> set[str]:
    """The channels the configuration names (the policy's and the directory's)."""
    return set(config.policy.channels) | set(config.channels)


class LocalBot:
    def __init__(
        self,
        config: Config,
        settings: Settings,
        *,
        stack: LocalStack | None = None,
        persist: bool = True,
        notifier_options: dict[str, Any] | None = None,
        worker_log: Path | None = None,
        slack_member_of: Iterable[str] | None = None,
        watch: bool = False,
    ) -> None:
        """``slack_member_of``: the channels the bot was invited to in the loopback workspace
        (default: every configured channel, as after the README's ``/invite @cloudsync``).
        ``watch``: send what the deployment's beat sends, the fleet watch round every
        CLOUDSYNC_WATCH_INTERVAL seconds and the stalled-run recovery every minute (the
        console; tests send their rounds themselves)."""
        self.config = config
        self.settings = settings
        self.stack = stack or LocalStack(config, settings, persist=persist)
        self.signing_secret = pysecrets.token_hex(16)
        if slack_member_of is None:
            slack_member_of = workspace_channels(config)
        self.slack = LoopbackSlack(member_of=slack_member_of)
        self.slack.channel_names.update(config.channels)
        self.notifier_options = dict(notifier_options or {})
        self.worker_log = worker_log
        self.watch = watch
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.ctx: BotContext
        self.app: App
        self.projector: Projector
        self.notifier: Notifier
        self.restored_cards: list[str] = []

    def start(self) -> LocalBot:
        self.slack.start()
        self.stack.start()
        # the workers upload log archives themselves (workers.notify.upload), to this server
        self.stack.extra_env.update(
            {"SLACK_API_URL": self.slack.api_url, "SLACK_BOT_TOKEN": LOCAL_TOKEN}
        )
        self.stack.start_workers(log_path=self.worker_log)
        self.ctx = build_context(self.config, self.stack.redis_url, prefix=self.settings.prefix)
        api_url = self.slack.api_url
        self.app = build_app(
            self.ctx,
            token=LOCAL_TOKEN,
            signing_secret=self.signing_secret,
            client=make_web_client(LOCAL_TOKEN, api_url),
        )
        self.ctx.dispatcher.warm()
        self.projector = Projector(
            self.ctx.store, self.ctx.outbox, self.config, sealer=self.ctx.service.sealer
        )
        self.notifier = Notifier(
            self.ctx.redis,
            lambda: make_web_client(LOCAL_TOKEN, api_url),
            prefix=self.settings.prefix,
            **self.notifier_options,
        )
        self.restored_cards = self.restore_cards()  # before the projector updates any
        self.spawn("projector", lambda: self.projector.run_forever(self.stop_event, block_ms=200))
        self.spawn("notifier", lambda: self.notifier.run_forever(self.stop_event))
        self.spawn("housekeeping", self._housekeeping)
        self.stack.wait_workers_ready()
        return self

    def spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _housekeeping(self) -> None:
        interval = self.settings.watch_interval_s if self.watch else 0.0
        ticker = WatchTicker(interval, time.monotonic())
        recovery = WatchTicker(RECOVER_INTERVAL_S if self.watch else 0.0, time.monotonic())
        while not self.stop_event.wait(2.0):
            with contextlib.suppress(Exception):
                self.ctx.service.expire_due()
                self.ctx.store.trim_events(self.settings.audit_retention_days)
            try:  # the hosts as they are now, should this process be killed
                self.stack.save_sim()
            except OSError as exc:  # a full disk: tried again at the next tick
                log.warning("could not save the simulated hosts' state: %s", exc)
            if ticker.due(time.monotonic()):
                # as beat's entry: a round still waiting at the next tick is dropped, not queued
                try:
                    self.ctx.dispatcher.watch(expires=max(1.0, interval))
                except Exception as exc:  # the broker may be back by the next tick
                    log.warning("could not send the fleet watch round: %s", type(exc).__name__)
            if recovery.due(time.monotonic()):  # beat's recover-stalled entry
                try:
                    self.ctx.dispatcher.recover()
                except Exception as exc:
                    log.warning("could not send the stalled-run recovery: %s", type(exc).__name__)

    def restore_cards(self) -> list[str]:
        """Put the cards of requests still waiting for approval back into the loopback Slack at
        the ts the outbox recorded, as a real workspace still shows them after a restart (the
        stand-in keeps messages in memory only): their buttons can be clicked and the projector's
        updates find them. The ids, oldest first."""
        restored = []
        waiting = [r for r in self.ctx.store.open_requests() if r.state is State.PENDING_APPROVAL]
        for request in sorted(waiting, key=lambda r: r.created_at):
            where = self.ctx.outbox.resolve(card_key(request.id))
            if where is None:  # never posted: the projector posts it
                continue
            text, blocks = self.projector.card(request)
            self.slack.restore_message(where[0], where[1], text, blocks)
            restored.append(request.id)
        return restored

    def busy(self, include_runs: bool) -> bool:
        """Anything still moving: preflights, runs (optionally), checks, projection, outbox."""
        waiting = {State.APPROVED, State.QUEUED, State.RUNNING} if include_runs else set()
        for request in self.ctx.store.open_requests():
            if request.state in waiting:
                return True
            if request.state is State.PENDING_APPROVAL and not request.request_hash:
                return True
        if self.ctx.redis.scard(busy_key(self.settings.prefix)):
            return True
        return (
            self.projector.lag() > 0 or self.projector.deferred() > 0 or self.notifier.pending() > 0
        )

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self.notifier.close()
        self.stack.stop()
        self.slack.stop()
