"""The fleet watch in the local stack: the periodic round the deployment's beat entry sends, and
one round on demand for the console's ``:watch``.

The deployment's beat (``workers.celery_app``, entry ``watch-fleet``) sends the watch task every
CLOUDSYNC_WATCH_INTERVAL seconds; the console has no beat (``cloudsync run`` with Slack tokens
runs beat in its first local worker instead), so the local bot's housekeeping thread sends the
same task on the same interval (``WatchTicker``), the first round shortly after start so
``/cloudsync watch status`` has something to show.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.context import BotContext
from workers.domain.config import Config
from workers.watch.detector import ABSENT, SERVICE, HostWatch
from workers.watch.round import EVENT
from workers.watch.store import WatchStore

FIRST_ROUND_S = 5.0  # after start: the workers are up, the first read is the quiet baseline


class WatchTicker:
    """When the next scheduled round is due (no clock of its own: ``due`` is given the time)."""

    def __init__(self, interval_s: float, start: float, first_after_s: float = FIRST_ROUND_S):
        self.interval_s = interval_s
        self.next_at = start + min(first_after_s, interval_s) if interval_s > 0 else None

    def due(self, now: float) -> bool:
        """True once per interval; a late tick does not queue up the rounds it missed."""
        if self.next_at is None or now < self.next_at:
            return False
        self.next_at += self.interval_s
        if self.next_at <= now:  # late (a suspended laptop): the next one an interval from now
            self.next_at = now + self.interval_s
        return True


@dataclass
class RoundResult:
    """One finished round as the console tells it: what it read, what it recorded."""

    read: dict[str, HostWatch] = field(default_factory=dict)
    paused: list[str] = field(default_factory=list)
    notices: list[dict[str, object]] = field(default_factory=list)
    finished: bool = True

    def line(self, channel_name: Callable[[str], str]) -> str:
        if not self.finished:
            return "(the watch round did not finish in time; the worker log says why)"
        unreachable = [h for h, s in self.read.items() if s.error]
        agents = Counter(_service_read(s) for s in self.read.values() if not s.error)
        parts = [
            f"{count} {'no agent' if value == ABSENT else 'agent ' + value}"
            for value, count in sorted(agents.items())
        ]
        if unreachable:
            parts.append(f"{len(unreachable)} unreachable ({', '.join(sorted(unreachable))})")
        read = f"read {len(self.read)} host(s)" + (f": {', '.join(parts)}" if parts else "")
        if self.paused:
            read += f"; paused, not read: {', '.join(self.paused)}"
        if not self.notices and any(s.pending for s in self.read.values()):
            posted = "posted nothing (a change is posted once it held for two reads)"
        elif not self.notices:
            posted = "posted nothing (no change)"
        else:
            where = sorted({str(n.get("channel") or "") for n in self.notices})
            shown = ", ".join("#" + channel_name(c) for c in where if c) or "no channel"
            posted = f"posted {len(self.notices)} notice(s) to {shown}"
        return f"(watch round: {read}; {posted})"


def _service_read(state: HostWatch) -> str:
    """The agent service as this read saw it (a new value waits in ``pending`` until it held)."""
    pending = state.pending.get(SERVICE)
    return str(pending[0]) if pending else state.stable.get(SERVICE, ABSENT)


def round_now(
    ctx: BotContext, config: Config, *, timeout_s: float = 120.0, poll_s: float = 0.1
) -> RoundResult:
    """Send one watch round (as beat would) and wait until every watched host was read.

    A round already running (the scheduled one) is waited for first: the watch runs one round
    at a time, so a round sent meanwhile would be skipped."""
    watch = WatchStore(ctx.store.redis, ctx.store.prefix)
    deadline = time.monotonic() + timeout_s
    while watch.round_running() and time.monotonic() < deadline:
        time.sleep(poll_s)
    paused = sorted(watch.paused())
    targets = [h for h in sorted(config.hosts) if h not in paused]
    before = {h: s.last_read for h, s in watch.hosts().items()}
    since = time.time()
    ctx.dispatcher.watch()

    def done() -> bool:
        now = watch.hosts()
        read = all(h in now and now[h].last_read > before.get(h, 0.0) for h in targets)
        return read and not watch.round_running()

    while not done():
        if time.monotonic() > deadline:
            return RoundResult(finished=False)
        time.sleep(poll_s)
    states = watch.hosts()
    notices = [e.data for e in ctx.store.events(since=since) if e.name == EVENT]
    return RoundResult(
        read={h: states[h] for h in targets}, paused=paused, notices=[dict(n) for n in notices]
    )
