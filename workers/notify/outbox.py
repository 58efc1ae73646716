"""The durable Slack outbox: the bot and the workers enqueue, a Notifier sends.

Every post, edit, ephemeral and App Home publish is written to Redis first (one JSON item per
call, in a per-channel lane), so a Slack outage or rate limit never loses a message and a process
that dies after enqueue loses nothing (Redis runs with AOF in production).

An ``OutboxBatch`` holds enqueues back so the caller writes them in one MULTI/EXEC with its own
keys: the projector's ``projected:<event>`` marker and the items of that projection then survive
a Redis failover together or not at all (replication is asynchronous, but a transaction reaches
a replica whole: https://redis.io/docs/latest/develop/interact/transactions/).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

import redis
from redis.client import Pipeline

from workers.notify import scripts
from workers.notify.items import NO_COALESCE, OutboxItem, text_of
from workers.notify.keys import Keys

KEY_TTL_S = 30 * 24 * 3600  # message keys outlive any request


def edit_lane(key: str) -> str:
    """The lane of the edits of one message."""
    return f"edit:{key}"


class _Enqueue:
    """The enqueue calls, shared by the Outbox (writes at once) and an OutboxBatch (writes
    later, in the caller's transaction). Each returns what ``_add`` answers."""

    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: list[Any] | None = None,
        key: str | None = None,
        thread_key: str | None = None,
        reply_broadcast: bool = False,
        uid: str | None = None,
    ) -> str:
        """chat.postMessage; ``key`` names the message for later updates/replies, ``thread_key``
        makes this a reply under the message named so (which must be in the same channel).
        ``uid`` names what this post is (e.g. the reply for one host in one attempt): the notifier
        never posts two items of one uid in a failover window (default: a random one)."""
        if thread_key is not None:
            parent_lane = self.lane_of(thread_key)
            if parent_lane != channel:
                raise ValueError("a thread reply must go to its parent's channel")
        item = OutboxItem(
            kind="post",
            lane=channel,
            channel=channel,
            key=key,
            thread_key=thread_key,
            reply_broadcast=reply_broadcast,
            content={"text": text, "blocks": blocks},
            uid=uid or "",
        )
        return self._add(item, key_lane=channel if key is not None else None)

    def update(self, key: str, *, text: str, blocks: list[Any] | None = None) -> str:
        """chat.update of the message named ``key``; queued edits of it coalesce to the newest.

        Edits go in a lane of their own (``edit:<key>``), not behind the channel's posts: posts
        are paced at one per second per channel, while chat.update has its own (Tier 3) limit,
        so a live status card never trails a queue of thread replies. The notifier holds an
        edit until the message's post is delivered."""
        channel = self.lane_of(key)
        item = OutboxItem(
            kind="update",
            lane=edit_lane(key),
            channel=channel,
            key=key,
            content={"text": text, "blocks": blocks},
        )
        return self._add(item)

    def ephemeral(
        self, channel: str, user: str, *, text: str, blocks: list[Any] | None = None
    ) -> str:
        """chat.postEphemeral, in the channel's lane so it stays in order with the posts."""
        item = OutboxItem(
            kind="ephemeral",
            lane=channel,
            channel=channel,
            user=user,
            content={"text": text, "blocks": blocks},
        )
        return self._add(item)

    def publish_home(self, user: str, view: dict[str, Any]) -> str:
        """views.publish of the user's App Home; queued publishes coalesce to the newest view."""
        item = OutboxItem(kind="home", lane=f"home:{user}", user=user, content={"view": view})
        return self._add(item)

    def lane_of(self, key: str) -> str:
        raise NotImplementedError

    def _add(self, item: OutboxItem, key_lane: str | None = None) -> str:
        raise NotImplementedError


class Outbox(_Enqueue):
    """Enqueue side of the outbox. Methods return the item id (an existing id when an update
    was merged into a still-queued update of the same message)."""

    def __init__(self, redis_client: redis.Redis, prefix: str = "cloudsync") -> None:
        self.redis = redis_client
        self.keys = Keys(prefix)
        self._enqueue = redis_client.register_script(scripts.ENQUEUE)

    def batch(self, uid_prefix: str) -> OutboxBatch:
        """Enqueues to write later in one transaction; their uids are ``uid_prefix`` and a
        count, so the same calls made again (a re-projected event) get the same uids."""
        return OutboxBatch(self, uid_prefix)

    # -- enqueue ---------------------------------------------------------------------------
    def _add(self, item: OutboxItem, key_lane: str | None = None) -> str:
        if key_lane is not None and item.key is not None:
            self.redis.set(self.keys.key_lane(item.key), key_lane, ex=KEY_TTL_S)
        return self._push(item)

    def _push(self, item: OutboxItem, client: Pipeline | None = None) -> str:
        """ENQUEUE ``item``, at once or queued in ``client`` (a transaction: no answer yet)."""
        item.enqueued_at = time.time()
        item.uid = item.uid or uuid.uuid4().hex
        coalesce = item.coalesce_key != NO_COALESCE
        result = self._enqueue(
            client=client,
            keys=[
                self.keys.seq,
                self.keys.lanes,
                self.keys.lane(item.lane),
                self.keys.pending_update(item.coalesce_key),
            ],
            args=[
                self.keys.item_prefix,
                item.lane,
                item.meta_json(),
                item.content_json(),
                "1" if coalesce else "0",
            ],
        )
        return "" if client is not None else text_of(result)

    # -- lookups ---------------------------------------------------------------------------
    def lane_of(self, key: str) -> str:
        """The channel a message key was (or will be) posted in; LookupError if unknown."""
        lane = self.redis.get(self.keys.key_lane(key))
        if lane is not None:
            return text_of(lane)
        resolved = self.resolve(key)
        if resolved is None:
            raise LookupError(f"unknown message key {key!r}")
        return resolved[0]

    def resolve(self, key: str) -> tuple[str, str] | None:
        """(channel, ts) of the message named ``key`` once Slack accepted its post."""
        raw = self.redis.get(self.keys.message(key))
        if raw is None:
            return None
        data = json.loads(text_of(raw))
        return data["channel"], data["ts"]

    def lanes(self) -> list[str]:
        return sorted(text_of(x) for x in self.redis.smembers(self.keys.lanes))  # type: ignore[union-attr]

    def depth(self) -> int:
        """Items still queued over all lanes (exact: summed from the lane lists)."""
        lanes = self.lanes()
        if not lanes:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for lane in lanes:
            pipe.llen(self.keys.lane(lane))
        return sum(int(n) for n in pipe.execute())

    def blocked(self, lane: str) -> bool:
        """Slack refuses this lane (a channel) until a person acts (the bot not invited...)."""
        return bool(self.redis.hexists(self.keys.lane_state(lane), "blocked"))

    def dead(self, limit: int = 100) -> list[dict[str, Any]]:
        """Dead-lettered items (summary, error, time), oldest first."""
        raw = self.redis.lrange(self.keys.dead, 0, limit - 1)
        return [json.loads(text_of(x)) for x in raw]  # type: ignore[union-attr]


class OutboxBatch(_Enqueue):
    """Enqueues (and the caller's own SETs and DELs) held back, then queued in the caller's
    MULTI by ``write``: either all of them reach Redis, and every replica, or none does."""

    def __init__(self, outbox: Outbox, uid_prefix: str) -> None:
        self.outbox = outbox
        self.uid_prefix = uid_prefix
        self.items: list[tuple[OutboxItem, str | None]] = []
        self.sets: dict[str, tuple[str, int]] = {}
        self.deletes: set[str] = set()
        self._counts: Counter[tuple[str, str]] = Counter()

    def lane_of(self, key: str) -> str:
        for item, key_lane in self.items:
            if key_lane is not None and item.key == key:
                return key_lane
        return self.outbox.lane_of(key)

    def resolve(self, key: str) -> tuple[str, str] | None:
        return self.outbox.resolve(key)

    def set(self, key: str, value: str, ex: int) -> None:
        """A plain SET written with the items (e.g. a marker the caller reads back)."""
        self.deletes.discard(key)
        self.sets[key] = (value, ex)

    def delete(self, key: str) -> None:
        """A DEL written with the items (e.g. what the items answered, taken once)."""
        self.sets.pop(key, None)
        self.deletes.add(key)

    def get(self, key: str) -> str | None:
        """A value set in this batch, else Redis' (read your own writes before ``write``)."""
        if key in self.deletes:
            return None
        if key in self.sets:
            return self.sets[key][0]
        raw = self.outbox.redis.get(key)
        return None if raw is None else text_of(raw)

    def _add(self, item: OutboxItem, key_lane: str | None = None) -> str:
        # the n-th call of a kind in a lane: the same again when the same calls are made again
        n = self._counts[(item.kind, item.lane)]
        self._counts[(item.kind, item.lane)] += 1
        item.uid = item.uid or f"{self.uid_prefix}:{item.kind}:{item.lane}:{n}"
        self.items.append((item, key_lane))
        return item.uid

    def write(self, pipe: Pipeline) -> None:
        """Queue everything in ``pipe``, a transaction pipeline in MULTI mode."""
        if self.deletes:
            pipe.delete(*sorted(self.deletes))
        for key, (value, ex) in self.sets.items():
            pipe.set(key, value, ex=ex)
        for item, key_lane in self.items:
            if key_lane is not None and item.key is not None:
                pipe.set(self.outbox.keys.key_lane(item.key), key_lane, ex=KEY_TTL_S)
            self.outbox._push(item, client=pipe)
