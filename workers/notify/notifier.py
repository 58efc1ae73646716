"""The Notifier: sends the outbox to Slack, lane by lane, in order, paced, retrying forever.

Model
- A lane is a channel (or ``home:<user>``); its items go out strictly in enqueue order.
- One notifier at a time serves a lane, under a short Redis lease renewed while it sends, so
  several notifier processes (bot, workers) can run at once without reordering or doubling.
- Lanes are served in parallel by a small thread pool: a paused or slow lane never stalls the
  others.
- Pacing state (posting pace, 429 pause, backoff attempts, last edit time) lives in Redis, so
  it survives a notifier handing a lane to another.

Crash safety: an item is peeked, sent, and removed only after Slack confirmed it. A crash (or a
lease lost during a very slow call) between Slack's answer and the removal resends that one item
at worst: a duplicate post or a harmless repeated edit. Nothing queued is ever lost.

Redis failover (Sentinel; replication is asynchronous): the removal of a delivered item may be
missing on the promoted replica, so the item shows queued again. After a post or an ephemeral
the removal is followed by ``WAIT 1 <replica_wait_ms>`` on the same connection when the primary
has replicas; until a replica acknowledged it, the item's uid stays in an in-process journal
(``journal.py``), and an item found with a journaled uid is removed again, not re-sent. That
makes each post exactly once while this process survives the failover; if the notifier dies
with the primary, that window's posts may go out twice. Edits and App Home publishes are sent
again at worst: chat.update and views.publish set the same content, a no-op in effect. A WAIT
that nobody acknowledges holds a lane for at most ``replica_wait_ms``, and none is sent to a
Redis without replicas.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from slack_sdk import WebClient

from workers.notify import pacing, scripts
from workers.notify.items import OutboxItem, text_of
from workers.notify.journal import JOURNALED_KINDS, DeliveryJournal, Posted
from workers.notify.keys import Keys
from workers.notify.metrics import MetricHook, NotifierMetrics
from workers.notify.outbox import KEY_TTL_S, Outbox
from workers.notify.replicas import Replicas
from workers.notify.sender import Outcome, send

log = logging.getLogger(__name__)

LANE_STATE_TTL_S = 24 * 3600
REAPPLY_EVERY_S = 0.5  # how often journaled marks not yet on a replica are written again


class Notifier:
    """Sends queued outbox items. ``web_client_factory()`` builds the WebClient (its base_url,
    token and timeout); the notifier removes slack_sdk's retry handlers because it owns retries.

    ``min_update_interval_s`` spaces the edits of one message: at one per second a live card
    stays within a second of the store, and a few busy cards stay under chat.update's Tier 3
    limit (about 50 per minute per workspace: api.slack.com/docs/rate-limits); the edits in
    between coalesce into the newest.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        web_client_factory: Callable[[], WebClient],
        *,
        prefix: str = "cloudsync",
        per_channel_rate: float = 1.0,
        post_burst: int = 2,
        min_update_interval_s: float = 1.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        lease_s: float = 10.0,
        max_parallel_lanes: int = 8,
        poll_interval_s: float = 0.05,
        items_per_turn: int = 20,
        metrics_hook: MetricHook | None = None,
        blocked_retry_s: float = 30.0,
        replica_wait_ms: int = 100,
    ) -> None:
        """``blocked_retry_s``: how often a lane Slack refuses for a reason a person must fix
        (the bot not invited, a revoked token) is tried again; its items wait, never lost.
        ``replica_wait_ms``: the longest WAIT for a replica after a post (0: no WAIT)."""
        self.redis = redis_client
        self.keys = Keys(prefix)
        self.outbox = Outbox(redis_client, prefix)
        self.client = web_client_factory()
        self.client.retry_handlers = []
        self.rate = per_channel_rate
        self.burst = post_burst
        self.min_update_interval_s = min_update_interval_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.lease_s = lease_s
        self.poll_interval_s = poll_interval_s
        self.items_per_turn = items_per_turn
        self.max_parallel_lanes = max_parallel_lanes
        self.blocked_retry_s = blocked_retry_s
        self.metrics = NotifierMetrics(metrics_hook)
        self.replicas = Replicas(redis_client, wait_ms=replica_wait_ms)
        self.journal = DeliveryJournal()
        self._reapplied_at = 0.0
        self._finish = redis_client.register_script(scripts.FINISH)
        self._renew = redis_client.register_script(scripts.RENEW)
        self._release = redis_client.register_script(scripts.RELEASE)
        self._forget = redis_client.register_script(scripts.FORGET_EMPTY)
        self._claim = redis_client.register_script(scripts.CLAIM)
        self._lock = threading.Lock()
        self._busy: dict[str, str] = {}  # lane -> lease token
        self._ready_at: dict[str, float] = {}
        self._last_renew = 0.0
        self._closing = threading.Event()
        self._pool = ThreadPoolExecutor(max_parallel_lanes, thread_name_prefix="notifier-lane")

    # -- public ----------------------------------------------------------------------------
    def pending(self) -> int:
        """Outbox depth: items queued in all lanes (including lanes other notifiers serve)."""
        return self.outbox.depth()

    depth = pending

    def run_forever(self, stop_event: threading.Event) -> None:
        """Serve the outbox until ``stop_event`` is set; then finish the items in flight."""
        try:
            while not stop_event.is_set():
                try:
                    wait = self.tick()
                except redis.RedisError as exc:  # Redis restarting: keep the loop alive
                    log.warning("notifier cannot reach redis: %s", type(exc).__name__)
                    wait = 1.0
                stop_event.wait(wait)
        finally:
            self._quiesce()

    def drain(self, timeout: float) -> bool:
        """Send everything queued; True when the outbox is empty, False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            wait = self.tick()
            with self._lock:
                idle = not self._busy
            if idle and self.pending() == 0:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(wait, remaining))

    def close(self) -> None:
        self._quiesce()
        self._pool.shutdown(wait=True)

    def tick(self) -> float:
        """Hand every due lane to a pool thread; returns how long to wait before the next tick."""
        now = time.time()
        self._reapply_journal()
        lanes = self.outbox.lanes()
        self._renew_leases(now)
        with self._lock:
            for lane in list(self._ready_at):
                if lane not in lanes:
                    del self._ready_at[lane]
            due = [ln for ln in lanes if ln not in self._busy and self._ready_at.get(ln, 0) <= now]
        for lane in due:
            with self._lock:
                if len(self._busy) >= self.max_parallel_lanes:
                    break
            token = uuid.uuid4().hex
            if not self.redis.set(self.keys.lease(lane), token, nx=True, px=self._lease_ms):
                with self._lock:
                    self._ready_at[lane] = now + self.poll_interval_s * 2
                continue
            with self._lock:
                self._busy[lane] = token
            self._pool.submit(self._lane_turn, lane, token)
        with self._lock:
            waits = [t - now for ln, t in self._ready_at.items() if ln not in self._busy]
        return max(0.001, min([self.poll_interval_s, *waits]))

    # -- lanes -----------------------------------------------------------------------------
    @property
    def _lease_ms(self) -> int:
        return max(1, int(self.lease_s * 1000))

    def _renew_leases(self, now: float) -> None:
        if now - self._last_renew < self.lease_s / 3:
            return
        self._last_renew = now
        with self._lock:
            held = list(self._busy.items())
        for lane, token in held:
            self._renew(keys=[self.keys.lease(lane)], args=[token, self._lease_ms])

    def _quiesce(self) -> None:
        """Let lane turns in flight end after their current item."""
        self._closing.set()
        try:
            while True:
                with self._lock:
                    if not self._busy:
                        return
                time.sleep(0.01)
        finally:
            self._closing.clear()

    def _lane_turn(self, lane: str, token: str) -> None:
        next_at: float | None
        try:
            next_at = self._serve(lane, token)
        except Exception:
            log.exception("notifier lane failed lane=%s", lane)
            next_at = time.time() + 1.0
        finally:
            try:
                self._release(keys=[self.keys.lease(lane)], args=[token])
            except redis.RedisError:
                log.warning("notifier could not release lease lane=%s", lane)
        with self._lock:
            del self._busy[lane]
            if next_at is None:
                self._ready_at.pop(lane, None)
            else:
                self._ready_at[lane] = next_at

    def _serve(self, lane: str, token: str) -> float | None:
        """Send items at the head of ``lane`` while allowed; return when to come back (None:
        the lane is empty)."""
        for _ in range(self.items_per_turn):
            if self._closing.is_set():
                return time.time()
            if not self._renew(keys=[self.keys.lease(lane)], args=[token, self._lease_ms]):
                return time.time() + self.poll_interval_s * 2
            head = self.redis.lindex(self.keys.lane(lane), 0)
            if head is None:
                self._forget(keys=[self.keys.lane(lane), self.keys.lanes], args=[lane])
                return None
            item_id = text_of(head)
            fields = self.redis.hgetall(self.keys.item(item_id))
            if not fields:
                self._remove(lane, item_id, "-", coalesce=None, dead={"error": "item_missing"})
                continue
            item = OutboxItem.from_hash(item_id, fields)  # type: ignore[arg-type]
            posted = self.journal.get(item.identity) if item.kind in JOURNALED_KINDS else None
            if posted is not None:  # sent before a failover lost its removal: never again
                self._mark_done(lane, item, posted.where)
                self.metrics.inc("skipped", "journaled")
                log.info("slack item already posted, removed again lane=%s key=%s", lane, item.key)
                continue
            wait_until = self._not_before(lane, item)
            if wait_until > time.time():
                return wait_until
            claimed = int(
                self._claim(
                    keys=[
                        self.keys.pending_update(item.coalesce_key),
                        self.keys.lane(lane),
                        self.keys.item(item_id),
                        self.keys.lanes,
                    ],
                    args=[item_id, lane],
                )
            )
            if claimed != 1:  # superseded by a newer edit (0), or no longer the head (-1)
                continue
            outcome = send(self.client, item, self.outbox.resolve)
            resume = self._settle(lane, item, outcome)
            if resume is not None:
                return resume
        return time.time()

    def _not_before(self, lane: str, item: OutboxItem) -> float:
        """When ``item`` may be sent: after a 429/backoff pause, the posting pace, and the
        minimum interval between edits of one message. Reserves the post slot when due."""
        state = {text_of(k): float(text_of(v)) for k, v in self._lane_state(lane).items()}
        now = time.time()
        pause_until = state.get("pause_until", 0.0)
        if pause_until > now:
            return pause_until
        if item.kind == "post":
            tat = state.get("tat", 0.0)
            allowed = pacing.post_allowed_at(tat, self.rate, self.burst)
            if allowed > now:
                return allowed
            self._set_state(lane, tat=pacing.next_tat(tat, now, self.rate))
        elif item.kind == "update" and item.key:
            if self.outbox.resolve(item.key) is None and not self.redis.exists(
                self.keys.dead_post(item.key)
            ):
                return now + self.poll_interval_s * 2  # its post is still queued
            last = self.redis.get(self.keys.last_update(item.key))
            if last is not None:
                return float(text_of(last)) + self.min_update_interval_s
        return 0.0

    def _lane_state(self, lane: str) -> dict[Any, Any]:
        return self.redis.hgetall(self.keys.lane_state(lane))  # type: ignore[return-value]

    def _set_state(self, lane: str, **fields: float) -> None:
        key = self.keys.lane_state(lane)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, mapping={k: repr(v) for k, v in fields.items()})
        pipe.expire(key, LANE_STATE_TTL_S)
        pipe.execute()

    def _settle(self, lane: str, item: OutboxItem, outcome: Outcome) -> float | None:
        """Act on Slack's answer; returns when to resume the lane, or None to go on."""
        now = time.time()
        fields = {"lane": lane, "key": item.key, "status": outcome.status}
        if outcome.verdict == "ok":
            self._delivered(lane, item, outcome, now)
            self.metrics.inc("sent", outcome.method)
            log.debug("slack sent method=%s %s", outcome.method, _fmt(fields))
            if outcome.degraded:
                log.warning(
                    "slack refused the blocks; sent as plain text method=%s %s",
                    outcome.method,
                    _fmt(fields),
                )
            return None
        if outcome.verdict == "blocked":
            resume = now + self.blocked_retry_s
            self._set_state(lane, pause_until=resume)
            self.metrics.inc("retried", outcome.reason)
            hint = (
                "invite the bot: /invite @cloudsync"
                if outcome.reason == "not_in_channel"
                else "check SLACK_BOT_TOKEN (cloudsync doctor)"
            )
            first = self.redis.hsetnx(self.keys.lane_state(lane), "blocked", repr(now))
            (log.error if first else log.debug)(  # once per blocked spell, not per retry
                "slack refused method=%s error=%s; the lane waits (%s), retry in %.1fs %s",
                outcome.method,
                outcome.reason,
                hint,
                self.blocked_retry_s,
                _fmt(fields),
            )
            return resume
        if outcome.verdict == "dead":
            dead = {"error": outcome.reason, "status": outcome.status}
            self._remove(lane, item.id, str(item.rev), item.coalesce_key, dead, item)
            self.metrics.inc("dead", outcome.method)
            log.warning(
                "slack item dead-lettered method=%s error=%s %s",
                outcome.method,
                outcome.reason,
                _fmt(fields),
            )
            return None
        if outcome.verdict == "ratelimited":
            resume = now + outcome.retry_after
            self.metrics.inc("retried", "ratelimited")
        else:
            attempts = int(self.redis.hincrby(self.keys.lane_state(lane), "attempts", 1))
            resume = now + pacing.backoff_delay(attempts, self.backoff_base_s, self.backoff_cap_s)
            self.metrics.inc("retried", outcome.reason)
        self._set_state(lane, pause_until=resume)
        log.info(
            "slack retry method=%s reason=%s in=%.2fs %s",
            outcome.method,
            outcome.reason,
            resume - now,
            _fmt(fields),
        )
        return resume

    def _delivered(self, lane: str, item: OutboxItem, outcome: Outcome, now: float) -> None:
        where = None
        if item.kind == "post" and item.key and outcome.ts:
            where = {"channel": outcome.channel or item.channel, "ts": outcome.ts}
        if item.kind in JOURNALED_KINDS:  # before the removal: that write may fail or be lost
            self.journal.add(Posted(item.identity, lane, item.key, where))
        self._mark_done(lane, item, where)

    def _mark_done(self, lane: str, item: OutboxItem, where: dict[str, Any] | None) -> None:
        """Record the delivery (the message's channel and ts, the edit time) and remove the item,
        on one connection; for a journaled kind then WAIT for a replica, and forget the journal
        entry once one holds the removal (or there is no replica to wait for)."""
        pipe = self.redis.pipeline(transaction=False)
        if where is not None and item.key:
            pipe.set(self.keys.message(item.key), json.dumps(where), ex=KEY_TTL_S)
        if item.kind == "update" and item.key:
            ttl = int(self.min_update_interval_s) + 60
            pipe.set(self.keys.last_update(item.key), repr(time.time()), ex=ttl)
        pipe.hdel(self.keys.lane_state(lane), "attempts", "blocked")
        self._finish(
            keys=self._finish_keys(lane, item.id, item.coalesce_key),
            args=[item.id, str(item.rev), lane, ""],
            client=pipe,
        )
        journaled = item.kind in JOURNALED_KINDS
        waited = journaled and self.replicas.add_wait(pipe)
        answers = pipe.execute()
        if journaled and (not waited or self.replicas.acknowledged(answers[-1])):
            self.journal.durable(item.identity)

    def _reapply_journal(self) -> None:
        """Write the message keys of journaled posts again (a failover may have lost them, and
        the card's edits and replies wait for them), until a replica acknowledged them."""
        now = time.monotonic()
        if now - self._reapplied_at < REAPPLY_EVERY_S:
            return
        pending = self.journal.unapplied()
        if not pending:
            return
        self._reapplied_at = now
        pipe = self.redis.pipeline(transaction=False)
        keyed = [e for e in pending if e.key and e.where]
        for entry in keyed:
            pipe.set(self.keys.message(str(entry.key)), json.dumps(entry.where), ex=KEY_TTL_S)
        waited = bool(keyed) and self.replicas.add_wait(pipe)
        answers = pipe.execute() if keyed else []
        if not waited or self.replicas.acknowledged(answers[-1]):
            self.journal.mark_reapplied(pending)

    def _remove(
        self,
        lane: str,
        item_id: str,
        rev: str,
        coalesce: str | None,
        dead: dict[str, Any] | None,
        item: OutboxItem | None = None,
    ) -> int:
        """Take the head item off the lane (dead-lettering it when ``dead`` is given)."""
        dead_json = ""
        if dead is not None and item is not None and item.kind == "post" and item.key:
            self.redis.set(self.keys.dead_post(item.key), "1", ex=KEY_TTL_S)
        if dead is not None:
            record = {**dead, "at": time.time(), "id": item_id, "lane": lane}
            if item is not None:
                record["item"] = {**item.summary(), "content": item.content}
            dead_json = json.dumps(record)
        keys = self._finish_keys(lane, item_id, coalesce)
        return int(self._finish(keys=keys, args=[item_id, rev, lane, dead_json]))

    def _finish_keys(self, lane: str, item_id: str, coalesce: str | None) -> list[str]:
        return [
            self.keys.lane(lane),
            self.keys.item(item_id),
            self.keys.lanes,
            self.keys.pending_update(coalesce or "-none-"),
            self.keys.dead,
        ]


def _fmt(fields: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
