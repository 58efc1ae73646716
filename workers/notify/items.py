"""The queued unit of work: one Slack call the bot wants made, stored as JSON in Redis."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["post", "update", "ephemeral", "home"]
NO_COALESCE = "-none-"


def text_of(value: Any) -> str:
    """redis-py answers bytes or str depending on ``decode_responses``; accept both."""
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class OutboxItem:
    """Meta (where/what) is fixed at enqueue; content (text/blocks/view) may be replaced by a
    newer update of the same message while the item is queued, which bumps ``rev``."""

    kind: Kind
    lane: str
    channel: str | None = None
    user: str | None = None
    key: str | None = None
    thread_key: str | None = None
    reply_broadcast: bool = False
    enqueued_at: float = 0.0
    content: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    rev: int = 0
    # what this call is, across Redis failovers: the id above comes from an INCR a failover can
    # roll back, and a re-projected event enqueues its items again under new ids (see
    # workers/notify/journal.py); the projector names its posts, other items get a random uid
    uid: str = ""

    @property
    def coalesce_key(self) -> str:
        """Items with one coalesce key merge while queued: edits of a message, a home tab."""
        if self.kind == "update" and self.key:
            return f"msg:{self.key}"
        if self.kind == "home" and self.user:
            return f"home:{self.user}"
        return NO_COALESCE

    def meta_json(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "lane": self.lane,
                "channel": self.channel,
                "user": self.user,
                "key": self.key,
                "thread_key": self.thread_key,
                "reply_broadcast": self.reply_broadcast,
                "enqueued_at": self.enqueued_at,
                "uid": self.uid,
            }
        )

    def content_json(self) -> str:
        return json.dumps(self.content)

    @classmethod
    def from_hash(cls, item_id: str, fields: dict[Any, Any]) -> OutboxItem:
        data = {text_of(k): text_of(v) for k, v in fields.items()}
        meta = json.loads(data["meta"])
        return cls(
            id=item_id,
            rev=int(data.get("rev", "0")),
            content=json.loads(data.get("content", "{}")),
            **meta,
        )

    @property
    def identity(self) -> str:
        """The uid (an item queued before uids existed: its id)."""
        return self.uid or f"id:{self.id}"

    def summary(self) -> dict[str, Any]:
        """What may be logged or dead-lettered beside the error: never the text or blocks."""
        return {
            "id": self.id,
            "kind": self.kind,
            "lane": self.lane,
            "channel": self.channel,
            "user": self.user,
            "key": self.key,
            "thread_key": self.thread_key,
        }
