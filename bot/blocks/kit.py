"""Block Kit primitives and Slack's limits: escaping, clipping and the blocks every message uses.

Everything user- or host-provided is escaped (``& < >``) before it goes into mrkdwn, so a host's
error text or a deny reason can never ping a channel or forge a link, and every element is
clipped to Slack's documented limits (button text 75, value 2000, confirm title 100 / text 300 /
labels 30, section text 3000, 50 blocks per message, 100 per App Home view) without breaking a
code block, an entity or a mention at the cut.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from workers.domain.model import (
    ChangeKind,
    State,
    StepStatus,
)

JsonDict = dict[str, Any]
PlanSteps = Mapping[str, Sequence[tuple[str, str]]]

SLASH = "/cloudsync"
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_VALUE = 2000
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_LABEL = 30
MAX_MODAL_TITLE = 24
MAX_FALLBACK = 3000
MAX_LONG_TEXT = 12000  # ephemeral answers (plan, status); Slack's hard limit is 40000

STATUS_EMOJI: dict[StepStatus, str] = {
    StepStatus.PENDING: "⬜",
    StepStatus.RUNNING: "⏳",
    StepStatus.DONE: "✅",
    StepStatus.SKIPPED: "⏭️",
    StepStatus.FAILED: "❌",
    StepStatus.CANCELLED: "🚫",
}
STATE_EMOJI: dict[State, str] = {
    State.PENDING_APPROVAL: "🕓",
    State.APPROVED: "👍",
    State.QUEUED: "📥",
    State.RUNNING: "⏳",
    State.SUCCEEDED: "✅",
    State.FAILED: "❌",
    State.DENIED: "⛔",
    State.CANCELLED: "🚫",
    State.EXPIRED: "⌛",
}
KIND_TITLES: dict[ChangeKind, str] = {
    ChangeKind.INSTALL: "Install cloud sync agent",
    ChangeKind.WRITEBACK: "Password writeback",
    ChangeKind.DOMAIN_ADD: "Add AD domain",
    ChangeKind.PERMISSIONS: "Grant AD permissions",
    ChangeKind.RESTART: "Restart agent service",
    ChangeKind.PROXY_SET: "Set agent proxy",
    ChangeKind.PROXY_CLEAR: "Remove agent proxy",
}


def esc(text: Any) -> str:
    """Escape Slack's three control characters in untrusted text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_PARTIAL_TAIL = re.compile(r"(?:&[A-Za-z#0-9]{0,5}|<[^>\n]*)$")


def clip(text: str, limit: int) -> str:
    """Shorten mrkdwn to ``limit`` without leaving half an entity, a half mention or an open
    code block behind."""
    if len(text) <= limit:
        return text
    cut = _PARTIAL_TAIL.sub("", text[: max(0, limit - 4)])
    return cut + ("…```" if cut.count("```") % 2 else "…")


def clip_plain(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(text: str, limit: int = 1500) -> str:
    """A fenced code block of untrusted text: escaped, fences neutralised, clipped inside."""
    body = esc(text).replace("```", "'''").strip("\n") or " "
    if len(body) > limit:
        body = _PARTIAL_TAIL.sub("", body[: limit - 1]) + "…"
    return f"```{body}```"


def first_line(text: str | None, limit: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return clip_plain(line, limit)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, secs = divmod(round(seconds), 60)
        return f"{minutes} min {secs} s"
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60} min"


def utc(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def slack_date(ts: float | None) -> str:
    """A date Slack shows in the reader's time zone, with a UTC fallback for other clients."""
    if ts is None:
        return "-"
    return f"<!date^{int(ts)}^{{date_short_pretty}} {{time}}|{utc(ts)}>"


def mention(user_id: str | None, name: str = "") -> str:
    if name:
        return esc(name)
    return f"<@{esc(user_id)}>" if user_id else "someone"


def section(text: str) -> JsonDict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text or " ", MAX_SECTION)}}


def fields_section(pairs: Sequence[tuple[str, str]]) -> JsonDict:
    fields = [
        {"type": "mrkdwn", "text": clip(f"*{label}*\n{value or '-'}", MAX_FIELD)}
        for label, value in pairs[:MAX_FIELDS]
    ]
    return {"type": "section", "fields": fields}


def context(text: str) -> JsonDict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_SECTION)}]}


def header(text: str) -> JsonDict:
    return {"type": "header", "text": {"type": "plain_text", "text": clip_plain(text, MAX_HEADER)}}


def divider() -> JsonDict:
    return {"type": "divider"}


def confirm_dialog(title: str, text: str, yes: str, no: str) -> JsonDict:
    return {
        "title": {"type": "plain_text", "text": clip_plain(title, MAX_CONFIRM_TITLE)},
        "text": {"type": "mrkdwn", "text": clip(text, MAX_CONFIRM_TEXT)},
        "confirm": {"type": "plain_text", "text": clip_plain(yes, MAX_CONFIRM_LABEL)},
        "deny": {"type": "plain_text", "text": clip_plain(no, MAX_CONFIRM_LABEL)},
    }


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: JsonDict | None = None,
) -> JsonDict:
    out: JsonDict = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": clip_plain(text, MAX_BUTTON_TEXT), "emoji": True},
        "value": value[:MAX_VALUE],
    }
    if style:
        out["style"] = style
    if confirm:
        out["confirm"] = confirm
    return out


def fit(body: list[JsonDict], tail: list[JsonDict], limit: int = MAX_BLOCKS) -> list[JsonDict]:
    """Keep ``tail`` (buttons, decision line) whole and cut ``body`` to stay under ``limit``."""
    room = limit - len(tail)
    if len(body) > room:
        kept = body[: room - 1]
        dropped = len(body) - len(kept)
        kept.append(context(f"… {dropped} more blocks not shown; `{SLASH} status` has them."))
        body = kept
    return body + tail
