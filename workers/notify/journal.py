"""What the notifier posted whose removal from the outbox no Redis replica has acknowledged.

Redis replication is asynchronous: a write the primary acknowledged may be missing on the
replica Sentinel promotes when the primary dies. For the outbox that write is the removal of an
item Slack already accepted; without it the new primary shows the item queued (or claimed)
again, and the notifier would post it a second time. So after a post or an ephemeral succeeds,
the notifier keeps the item's uid here until ``WAIT 1`` says a replica holds the removal
(https://redis.io/docs/latest/commands/wait/). While an entry is here, the notifier

- skips an item with that uid instead of sending it (it only re-applies the removal): the
  removal was lost, or the enqueue was too and the projector enqueued the same post again after
  re-projecting its event (the same uid: the projector names a post by what it is, e.g.
  ``reply:<request>:<attempt>:<host>:done``, not by the item id a failover can hand out again);
- re-applies the message key (channel and ts of a keyed post, e.g. a card), so the card's edits
  and replies find their parent on the new primary.

The journal lives in the notifier's memory: it covers the common failover, where only Redis'
primary dies. If the notifier process dies in the same window, its journal is gone and such an
item may be posted twice (a file in the data folder would not help a bot that restarts in a
fresh container, and several bot processes share no folder). ``WAIT 1`` means one replica: with
one replica (the compose profile, the tests) that is the one Sentinel promotes; with several of
equal priority, Sentinel promotes the one with the largest replication offset, which holds the
write too (https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/, "Replica
selection and priority"), unless a lower priority number makes it pick a replica behind.

Edits (chat.update) and App Home publishes (views.publish) are not journaled: sending one again
sets the same content, harmless.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

JOURNALED_KINDS = ("post", "ephemeral")  # each send shows one more message: never twice
KEEP_S = 3600.0  # long enough for any re-projection after a failover
MAX_ENTRIES = 10_000


@dataclass
class Posted:
    """One item Slack accepted: where its post landed, and whether its removal is durable."""

    uid: str
    lane: str
    key: str | None = None
    where: dict[str, Any] | None = None  # {channel, ts} of a keyed post
    at: float = 0.0  # time.monotonic() when Slack accepted it
    reapplied: bool = False  # its marks were written again and a replica acknowledged them


class DeliveryJournal:
    """Thread-safe (lane threads post in parallel); oldest entries go first past the limits."""

    def __init__(self, keep_s: float = KEEP_S, max_entries: int = MAX_ENTRIES) -> None:
        self.keep_s = keep_s
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, Posted] = {}

    def add(self, entry: Posted) -> None:
        entry.at = entry.at or time.monotonic()
        with self._lock:
            self._entries[entry.uid] = entry
            self._prune_locked(time.monotonic())

    def durable(self, uid: str) -> None:
        """A replica acknowledged the item's removal: it cannot come back."""
        with self._lock:
            self._entries.pop(uid, None)

    def get(self, uid: str) -> Posted | None:
        with self._lock:
            return self._entries.get(uid)

    def unapplied(self) -> list[Posted]:
        """Entries whose marks no replica has acknowledged yet (to write again)."""
        with self._lock:
            self._prune_locked(time.monotonic())
            return [e for e in self._entries.values() if not e.reapplied]

    def mark_reapplied(self, entries: list[Posted]) -> None:
        with self._lock:
            for entry in entries:
                entry.reapplied = True

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _prune_locked(self, now: float) -> None:
        for uid in [u for u, e in self._entries.items() if now - e.at > self.keep_s]:
            del self._entries[uid]
        while len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]
