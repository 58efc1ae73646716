"""Redis key names of the outbox, in one place so the Outbox and the Notifier agree."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Every outbox key lives under ``{prefix}:outbox:``."""

    prefix: str = "cloudsync"

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, "outbox", *parts))

    @property
    def seq(self) -> str:
        return self._k("seq")

    @property
    def lanes(self) -> str:
        """SET of lanes that have queued items."""
        return self._k("lanes")

    @property
    def dead(self) -> str:
        """LIST of dead-lettered items (JSON), oldest first."""
        return self._k("dead")

    @property
    def item_prefix(self) -> str:
        return self._k("item") + ":"

    def item(self, item_id: str) -> str:
        """HASH: meta (JSON), content (JSON), rev (int)."""
        return self.item_prefix + item_id

    def lane(self, lane: str) -> str:
        """LIST of item ids in enqueue order."""
        return self._k("lane", lane)

    def lane_state(self, lane: str) -> str:
        """HASH: tat (post pacing), pause_until, attempts (backoff), blocked (since when Slack
        refuses the lane for a reason a person must fix, e.g. ``not_in_channel``)."""
        return self._k("lanestate", lane)

    def lease(self, lane: str) -> str:
        return self._k("lease", lane)

    def message(self, key: str) -> str:
        """JSON {channel, ts} of a posted message, by its key."""
        return self._k("msg", key)

    def key_lane(self, key: str) -> str:
        """The lane a message key was enqueued in (known before the post is sent)."""
        return self._k("keylane", key)

    def pending_update(self, coalesce_key: str) -> str:
        """Id of the queued update of a message (or home view) that newer content merges into."""
        return self._k("pendupd", coalesce_key)

    def dead_post(self, key: str) -> str:
        """Set when the post of a message key was dead-lettered: its edits cannot wait for it."""
        return self._k("deadpost", key)

    def last_update(self, key: str) -> str:
        """When the message was last edited (for the minimum update interval)."""
        return self._k("lastupd", key)
