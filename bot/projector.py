"""Turns the request event stream into Slack messages, through the outbox.

Workers never import the bot and talk to Slack only to upload a log archive
(``workers.notify.upload``): they save state and append events. This
projector (run beside the bot) reads the stream with a Redis consumer group, renders the current
state with ``bot.blocks`` and enqueues posts and edits in the outbox, whose notifier paces them.
Rendering from the current state (not from the event) makes edits naturally coalesce.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Collection
from typing import Any

import redis

from bot import blocks, reads
from bot.blocks.kit import MAX_HOME_BLOCKS, divider, section
from bot.blocks.logs import logs_failed_text, logs_joined_text
from bot.blocks.watch import fleet_home_blocks, watch_notice
from bot.blocks.words import ATTEMPT_EVENTS, current_results, merged_steps
from bot.signed import signed_view
from workers.domain.config import Config
from workers.domain.model import HostPreflight, Request, State, StepResult, StepStatus
from workers.domain.seal import ApprovalSealer
from workers.domain.store import Event, RequestStore, decode_event
from workers.notify.outbox import Outbox, OutboxBatch
from workers.watch.store import WatchStore

log = logging.getLogger(__name__)

GROUP = "projector"
RENDER_INTERVAL_S = 0.5
PROJECT_TRIES = 5  # a read joined while its answer is projected: the projection runs again
CARD_EVENTS = {
    "preflight",
    "approval_added",
    "approved",
    "denied",
    "expired",
    "cancelled",
    "cancel_requested",
    "retried",
    "started",
    "step_started",
    "step_finished",
    "finished",
    "reapproval",
    "waiting",
    "resumed",
}


def card_key(request_id: str) -> str:
    return f"{request_id}:card"


def plan_steps_of(request: Request) -> dict[str, list[tuple[str, str]]]:
    return {host: list(pre.steps) for host, pre in request.preflight.items()}


def warnings_of(request: Request) -> list[str]:
    """The plan's warnings (no fix: cert validation off, ...), once for the request; a host's
    verdict warnings (with their fix) are shown under that host."""
    out: list[str] = []
    for pre in request.preflight.values():
        for warning in pre.warnings:
            if not warning.fix and warning.what not in out:
                out.append(warning.what)
    return out


class Projector:
    def __init__(
        self,
        store: RequestStore,
        outbox: Outbox,
        config: Config,
        *,
        consumer: str = "projector-1",
        sealer: ApprovalSealer | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.config = config
        # shows only the approvals the bot signed, as the service counts them
        self.sealer = sealer or ApprovalSealer.from_config(config)
        self.consumer = consumer
        self.redis: Any = store.redis
        self._dirty: dict[str, bool] = {}  # request cards to re-render (value: urgent)
        self._rendered: dict[str, float] = {}
        self._homes_for: set[str] = set()  # requests whose decision changes some App Home
        self._fleet_changed = False  # a watch notice: App Home's fleet section is stale
        self._out: Outbox | OutboxBatch = outbox  # where enqueues go: the event's batch if any
        self._pipe: Any = None  # the event's transaction pipeline (WATCHing) while projecting
        self._ensure_group()

    def _ensure_group(self) -> None:
        with contextlib.suppress(redis.ResponseError):  # BUSYGROUP: already exists
            self.redis.xgroup_create(self.store.events_key, GROUP, id="0", mkstream=True)

    # the loop ----------------------------------------------------------------------------
    def run_forever(self, stop: threading.Event, block_ms: int = 500) -> None:
        while not stop.is_set():
            try:
                self.step(block_ms=block_ms)
            except redis.ConnectionError:
                log.warning("projector: redis unavailable, retrying")
                stop.wait(1.0)
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    self._ensure_group()
                else:
                    log.exception("projector: redis error")
                    stop.wait(1.0)
            except Exception:
                log.exception("projector: unexpected error")
                stop.wait(1.0)

    def step(self, block_ms: int = 0, count: int = 100) -> int:
        """Handle pending (unacknowledged) entries first, then new ones. Returns how many."""
        handled = 0
        for start in ("0", ">"):
            reply = self.redis.xreadgroup(
                GROUP,
                self.consumer,
                {self.store.events_key: start},
                count=count,
                block=(min(block_ms, 100) if self._dirty else block_ms) if start == ">" else None,
            )
            done: list[str] = []
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    if fields:
                        self._project_once(decode_event(entry_id, fields))
                    done.append(entry_id)
            self._flush_cards()
            self._flush_homes()
            if done:
                self.redis.xack(self.store.events_key, GROUP, *done)
                handled += len(done)
        return handled

    def _flush_cards(self) -> None:
        """Re-render each request card touched by this batch once, from its current state: a
        30-host run emits hundreds of step events, and the card only needs the latest view.
        Step progress re-renders at most every RENDER_INTERVAL_S per card (Slack edits are
        coalesced further by the outbox); decisions and the end render at once."""
        now = time.monotonic()
        dirty, self._dirty = self._dirty, {}
        for request_id, urgent in dirty.items():
            if not urgent and now - self._rendered.get(request_id, 0.0) < RENDER_INTERVAL_S:
                self._dirty[request_id] = False  # later, with whatever has happened by then
                continue
            request = self.store.get(request_id)
            if request is not None:
                self._rendered[request_id] = now
                self._update_card(request)

    def deferred(self) -> int:
        """Cards whose re-render is waiting for RENDER_INTERVAL_S to pass."""
        return len(self._dirty)

    def lag(self) -> int:
        """Events not yet projected (pending + unread)."""
        try:
            groups = self.redis.xinfo_groups(self.store.events_key)
        except redis.ResponseError:
            return 0
        for group in groups:
            name = group.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == GROUP:
                return int(group.get("pending", 0)) + int(group.get("lag") or 0)
        return 0

    def _project_once(self, event: Event) -> None:
        """Project ``event`` unless its ``projected:<event>`` marker says it was.

        A crash after enqueueing but before XACK delivers the event again: the marker makes
        that a no-op. The marker and the items are written in one MULTI/EXEC (the projection
        reads first, into a batch): after a Redis failover the promoted replica holds both or
        neither, so an event is never marked projected without its posts (a lost post), nor
        projected twice (a doubled post; the notifier also skips a re-enqueued post it already
        delivered, by its uid, which names the post: card:, reply:, summary:). WATCH on the
        marker makes a concurrent projector's EXEC fail instead of enqueueing the items twice.
        The joiners of a read answered here are read in that phase and deleted in the same
        transaction (``_take_waiters``), so a failover before the EXEC keeps them too."""
        marker = f"{self.store.prefix}:projected:{event.id}"
        for _ in range(PROJECT_TRIES):
            if self._project_in_transaction(event, marker):
                return
            log.info("projector: a read was joined while event %s was projected; again", event.id)
        raise redis.WatchError(f"event {event.id}: its readers kept changing; projected later")

    def _project_in_transaction(self, event: Event, marker: str) -> bool:
        """One try of ``_project_once``; False when its EXEC failed on a WATCHed waiters list
        (someone joined the read being answered), so the projection must run again."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.watch(marker)
            if pipe.exists(marker):
                if event.request and event.name in CARD_EVENTS:
                    # its card edit (queued after the batch) may be the part a failover lost
                    self._dirty.setdefault(event.request, False)
                return True
            batch = self.outbox.batch(uid_prefix=f"ev:{event.id}")
            self._out, self._pipe = batch, pipe
            try:
                self.project(event)
            finally:
                self._out, self._pipe = self.outbox, None
            pipe.multi()
            pipe.set(marker, "1", ex=7 * 86400)
            batch.write(pipe)
            try:
                pipe.execute()
            except redis.WatchError:
                if not self.redis.exists(marker):
                    return False
                log.info("projector: event %s was projected by another projector", event.id)
            return True

    # rendering ---------------------------------------------------------------------------
    def project(self, event: Event) -> None:
        if event.name in ("notice", "check_result", "fleet_result"):
            self._notice(event)
            return
        if event.name == "watch_change":
            self._watch_notice(event)
            return
        if event.name == "logs_result":
            self._logs_answer(event)
            return
        request = self.store.get(event.request)
        if request is None:
            return
        if event.name == "preflight":
            self._post_or_update_card(request)
            return
        if event.name not in CARD_EVENTS:
            return
        if event.name in ATTEMPT_EVENTS:  # a new attempt: the old one's failures go pending
            self._set(self._since_key(request.id), str(event.at), ex=30 * 86400)
        if event.name == "step_finished":
            self._step_reply(request, event)
        progress = event.name in ("step_started", "step_finished")
        self._dirty[request.id] = self._dirty.get(request.id, False) or not progress
        if event.name == "finished" or (event.name == "denied" and request.state is State.DENIED):
            self._flush_cards()
            self._summary(request)  # the requester is mentioned in the channel
        if event.name in ("approval_added", "approved", "denied", "expired", "cancelled"):
            self._refresh_homes(request)

    def _names(self, user: str) -> str:
        known = self.config.users.get(user)
        return known.name if known else user

    def _since_key(self, request_id: str) -> str:
        return f"{self.store.prefix}:attempt-since:{request_id}"

    def _set(self, key: str, value: str, ex: int) -> None:
        """A SET in the event's transaction when projecting one (else at once)."""
        if isinstance(self._out, OutboxBatch):
            self._out.set(key, value, ex)
        else:
            self.redis.set(key, value, ex=ex)

    def _get(self, key: str) -> str | None:
        """Read a key, including what the event's projection set so far."""
        if isinstance(self._out, OutboxBatch):
            return self._out.get(key)
        raw = self.redis.get(key)
        return None if raw is None else (raw.decode() if isinstance(raw, bytes) else str(raw))

    def _results(self, request: Request) -> dict[str, list[StepResult]]:
        raw = self._get(self._since_key(request.id))
        since = float(raw) if raw else None
        return current_results(self.store.all_steps(request), since)

    def card(self, stored: Request) -> tuple[str, list[dict[str, Any]]]:
        """The request's card as it reads now (text and blocks), as posted or updated."""
        return self._card(stored)

    def _card(self, stored: Request) -> tuple[str, list[dict[str, Any]]]:
        request, ignored = signed_view(self.sealer, stored)
        plan_steps = plan_steps_of(request)
        if request.state is State.PENDING_APPROVAL:
            return blocks.approval_card(
                request,
                plan_steps=plan_steps,
                preflight=request.preflight,
                requester_name=self._names(request.requester),
                warnings=warnings_of(request),
                ignored_approvals=ignored,
            )
        if request.state in (State.DENIED, State.EXPIRED) or (
            request.state is State.CANCELLED and not request.approvals
        ):
            return blocks.decided_card(
                request,
                plan_steps=plan_steps,
                preflight=request.preflight,
                requester_name=self._names(request.requester),
            )
        return blocks.progress_card(request, self._results(request), plan_steps)

    def _post_or_update_card(self, request: Request) -> None:
        text, body = self._card(request)
        if self.outbox.resolve(card_key(request.id)) is not None or self._card_enqueued(request):
            self._out.update(card_key(request.id), text=text, blocks=body)
        else:
            self._set(f"{self.store.prefix}:card-enqueued:{request.id}", "1", ex=30 * 86400)
            self._out.post(
                request.channel,
                text=text,
                blocks=body,
                key=card_key(request.id),
                uid=f"card:{request.id}",
            )

    def _card_enqueued(self, request: Request) -> bool:
        return self._get(f"{self.store.prefix}:card-enqueued:{request.id}") is not None

    def _update_card(self, request: Request) -> None:
        if not self._card_enqueued(request):
            return
        text, body = self._card(request)
        self._out.update(card_key(request.id), text=text, blocks=body)

    def _step_reply(self, request: Request, event: Event) -> None:
        """A single-host request gets a reply per step. A multi-host one, whose card is its
        live status, gets a reply per failure (the error and the hint) and one per host when
        that host is done (its step summary): routine steps only move the card.

        Each reply is posted once per attempt: a run delivered again (its task's acknowledgement
        lost, e.g. in a Redis failover) resumes, and records its checked steps again, but its
        hosts and steps were already reported. The ``replied:`` mark is written with the item
        (one transaction), and the item's uid names the reply, so the notifier also skips it
        when a failover lost the mark after the post went out."""
        host = str(event.data.get("host", ""))
        step = str(event.data.get("step", ""))
        saved = self.store.load_steps(request.id, host)
        result = saved.get(step)
        if (
            result is None
            or result.status is StepStatus.RUNNING
            or not self._card_enqueued(request)
        ):
            return
        if len(request.change.hosts) > 1 and result.status is not StepStatus.FAILED:
            steps = merged_steps(plan_steps_of(request).get(host) or (), list(saved.values()), host)
            if any(s.status in (StepStatus.PENDING, StepStatus.RUNNING) for s in steps):
                return
            if any(s.status is StepStatus.FAILED for s in steps):
                return  # its failure had its reply
            last = max(steps, key=lambda s: s.finished_at or 0.0)
            if last.step_id != step:
                return  # projected late: the host's last step's own event posts the reply
            text, body = blocks.host_finished_reply(host, steps, request_id=request.id)
            reply = f"{request.id}:{self._attempt(request)}:{host}:done"
        else:
            text, body = blocks.step_reply(result, request_id=request.id)
            reply = f"{request.id}:{self._attempt(request)}:{host}:step:{step}"
        replied = f"{self.store.prefix}:replied:{reply}"
        if self._get(replied) is not None:
            return
        self._set(replied, "1", ex=30 * 86400)
        self._out.post(
            request.channel,
            text=text,
            blocks=body,
            thread_key=card_key(request.id),
            uid=f"reply:{reply}",
        )

    def _attempt(self, request: Request) -> str:
        """The current attempt at the plan: when its approval (or retry) was projected."""
        return self._get(self._since_key(request.id)) or "-"

    def _summary(self, request: Request) -> None:
        if not self._card_enqueued(request):
            return  # no card to thread under (a request the bot never posted, e.g. forged)
        shown, _ignored = signed_view(self.sealer, request)
        text, body = blocks.summary(shown, self._results(request), request.requester)
        self._out.post(
            request.channel,
            text=text,
            blocks=body,
            thread_key=card_key(request.id),
            reply_broadcast=True,
            uid=f"summary:{request.id}:{self._attempt(request)}",
        )

    def _notice(self, event: Event) -> None:
        """A direct answer for one user (check, agents, refusals found after the ack)."""
        data = event.data
        channel = str(data.get("channel", ""))
        user = str(data.get("user", ""))
        if event.name == "check_result":
            pre = data.get("preflight")
            text = blocks.check_text(
                str(data.get("host", "")), HostPreflight.from_dict(pre) if pre else None
            )
        elif event.name == "fleet_result":
            text = blocks.agents_text(list(data.get("facts") or []))
        else:
            text = str(data.get("text", ""))
        askers = [(channel, user)] if channel and user else []
        if event.name in ("check_result", "fleet_result"):  # and whoever joined this read
            target = (
                reads.check_target(str(data.get("host", "")))
                if event.name == "check_result"
                else reads.AGENTS_TARGET
            )
            askers += [a for a in self._take_waiters(target) if a not in askers]
        if text:
            for to_channel, to_user in askers:
                self._out.ephemeral(to_channel, to_user, text=text)

    def _watch_notice(self, event: Event) -> None:
        """A fleet watch change, posted once in the watch channel (keyed by host + change +
        sequence, as the worker recorded it once)."""
        channel = str(event.data.get("channel", ""))
        self._fleet_changed = True
        if not channel:
            log.warning("fleet watch: no watch channel (policy channels/watch_channel) to post in")
            return
        text, body = watch_notice(event.data)
        key = f"watch:{event.data.get('key') or event.id}"
        self._out.post(channel, text=text, blocks=body, key=key)

    def _logs_answer(self, event: Event) -> None:
        """``logs HOST`` answered: the uploaded archive speaks for itself in the channel; who
        joined the collection is told where it is, and on a failure everyone who asked is told
        why (ephemeral). Taking the waiters ends the one-collection-per-host guard."""
        data = event.data
        channel, user = str(data.get("channel", "")), str(data.get("user", ""))
        joined = self._take_waiters(reads.logs_target(str(data.get("host", ""))))
        askers = [(channel, user)] if channel and user else []
        askers += [a for a in joined if a not in askers]
        for to_channel, to_user in askers:
            if not data.get("ok"):
                self._out.ephemeral(to_channel, to_user, text=logs_failed_text(data))
            elif (to_channel, to_user) != (channel, user):
                self._out.ephemeral(to_channel, to_user, text=logs_joined_text(data, channel))

    def _take_waiters(self, target: str) -> list[tuple[str, str]]:
        """Who joined the read of ``target``. Read in the projection's read phase (WATCHed: a
        joiner's RPUSH before the EXEC makes it run again, so no joiner is dropped) and deleted
        with the answers in its transaction: a failover before the EXEC keeps the waiters for
        the projection that follows, instead of losing their answers with a DEL done early."""
        if self._pipe is None or not isinstance(self._out, OutboxBatch):
            return reads.take_waiters(self.store, target)  # not projecting an event: at once
        waiters, inflight = reads.waiter_keys(self.store, target)
        self._pipe.watch(waiters)
        raw = self._pipe.lrange(waiters, 0, -1)
        self._out.delete(waiters)
        self._out.delete(inflight)
        return reads.parse_waiters(raw)

    def _refresh_homes(self, request: Request) -> None:
        """Mark App Home stale for the viewers whose tab this decision changes: the requester
        (their own list) and the request's approvers (what waits for them). Published once per
        batch by ``_flush_homes``."""
        self._homes_for.add(request.id)

    def _flush_homes(self) -> None:
        """Republish App Home, at most once per recent viewer per batch of events, for the
        viewers a decision in this batch concerns (with the groups they had when they opened
        it): anyone else would only cost Slack calls on a tab that did not change."""
        changed, self._homes_for = self._homes_for, set()
        fleet, self._fleet_changed = self._fleet_changed, False
        if not changed and not fleet:
            return
        requests = [r for r in (self.store.get(i) for i in sorted(changed)) if r is not None]
        for user, groups in home_viewers(self.store).items():
            if fleet or any(self._home_concerns(r, user, groups) for r in requests):
                home = home_for(self.store, self.config, user, groups, sealer=self.sealer)
                self.outbox.publish_home(user, home)

    def _home_concerns(self, request: Request, user: str, groups: Collection[str]) -> bool:
        from workers.domain import policy

        if user == request.requester:
            return True
        tags = {
            h: self.config.hosts[h].tags if h in self.config.hosts else ()
            for h in request.change.hosts
        }
        return policy.is_approver(self.config.policy, user, groups, tags)


HOME_RECENT_S = 600  # a viewer seen longer ago gets a fresh view when they open the tab again
HOME_MAX_VIEWERS = 30  # republished per decision batch at most (the most recent viewers)


def _viewers_key(store: RequestStore) -> str:
    return f"{store.prefix}:home-viewers"  # user -> their groups when they last opened it


def _seen_key(store: RequestStore) -> str:
    return f"{store.prefix}:home-seen"  # sorted set: user by last-seen time


_REMEMBER = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
local n = redis.call('ZCARD', KEYS[1]) - #gone
if n > tonumber(ARGV[5]) then
  local extra = redis.call('ZRANGE', KEYS[1], #gone, #gone + n - tonumber(ARGV[5]) - 1)
  for _, u in ipairs(extra) do table.insert(gone, u) end
end
for _, u in ipairs(gone) do
  redis.call('ZREM', KEYS[1], u)
  redis.call('HDEL', KEYS[2], u)
end
return #gone
"""


def remember_home_viewer(
    store: RequestStore, user: str, groups: Collection[str], now: float | None = None
) -> None:
    """Note that ``user`` looks at App Home now; the set keeps the HOME_MAX_VIEWERS most recent
    viewers of the last HOME_RECENT_S seconds (trimmed here, atomically), so opening the tab from
    many accounts cannot make every decision cost one views.publish per account ever seen."""
    at = time.time() if now is None else now
    script: Any = store.redis.register_script(_REMEMBER)
    script(
        keys=[_seen_key(store), _viewers_key(store)],
        args=[at, user, json.dumps(sorted(groups)), at - HOME_RECENT_S, HOME_MAX_VIEWERS],
    )


def home_viewers(store: RequestStore, now: float | None = None) -> dict[str, list[str]]:
    """Recent App Home viewers (newest first, at most HOME_MAX_VIEWERS) with their groups."""
    at = time.time() if now is None else now
    users = store.redis.zrevrangebyscore(
        _seen_key(store), "+inf", at - HOME_RECENT_S, start=0, num=HOME_MAX_VIEWERS
    )
    if not users:
        return {}
    names = [u.decode() if isinstance(u, bytes) else str(u) for u in users]
    groups = store.redis.hmget(_viewers_key(store), names)
    return {n: json.loads(g) if g else [] for n, g in zip(names, groups, strict=True)}


HOME_NOTICE_TTL_S = 120  # a refused Home click's reason stays on top of the tab this long


def _notice_key(store: RequestStore, user: str) -> str:
    return f"{store.prefix}:home-notice:{user}"


def set_home_notice(store: RequestStore, user: str, text: str) -> None:
    """Show ``text`` at the top of ``user``'s App Home for HOME_NOTICE_TTL_S: a Home click has
    no response_url, and a later refresh of the tab (a decision elsewhere) keeps the notice."""
    store.redis.set(_notice_key(store, user), text, ex=HOME_NOTICE_TTL_S)


def _home_channel(config: Config) -> str:
    """App Home is in no channel: the fleet section is shown to whoever may read in the first
    allowed channel (the readers of ``policy.may_read``)."""
    return config.policy.channels[0] if config.policy.channels else ""


def home_for(
    store: RequestStore,
    config: Config,
    user: str,
    user_groups: Collection[str] = (),
    *,
    sealer: ApprovalSealer | None = None,
) -> dict[str, Any]:
    """The App Home view: requests waiting for this approver, and the user's own.

    ``user_groups`` are the user's Slack user groups, so an approver listed only through a group
    sees what waits for them too (the projector's refresh has none and lists named users). Only
    the approvals the bot signed are shown and counted: one written into Redis neither shows as
    an approval nor hides a request from the approver it names.
    """
    from workers.domain import policy

    sealer = sealer or ApprovalSealer.from_config(config)
    pending = [
        r
        for r in (sealer.genuine(s) for s in store.in_states([State.PENDING_APPROVAL]))
        if r.request_hash
        and r.requester != user
        and policy.is_approver(
            config.policy,
            user,
            user_groups,
            {h: config.hosts[h].tags if h in config.hosts else () for h in r.change.hosts},
        )
        and not any(a.user == user for a in r.approvals)
    ]
    mine = [sealer.genuine(r) for r in store.recent_of_user(user, limit=10)]
    view = blocks.home_view(pending, mine)
    if policy.may_read(config.policy, user, _home_channel(config), user_groups).allowed:
        watch = WatchStore(store.redis, store.prefix)
        room = MAX_HOME_BLOCKS - len(view["blocks"]) - 3  # divider, and the notice on top
        fleet = fleet_home_blocks(watch.hosts(), watch.paused(), room)
        if fleet:
            view["blocks"] = [*view["blocks"], divider(), *fleet]
    notice = store.redis.get(_notice_key(store, user))
    if notice:
        text = notice.decode() if isinstance(notice, bytes) else str(notice)
        view["blocks"] = [section(text), divider(), *view["blocks"]]
    return view
