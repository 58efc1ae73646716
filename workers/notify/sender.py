"""Turns one outbox item into one slack_sdk call and classifies Slack's answer.

The classification is what the Notifier acts on: delivered, rate limited (pause the lane for
Retry-After), transient (back off and retry forever), or permanent (dead-letter).
"""

from __future__ import annotations

import dataclasses
import http.client
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from workers.notify.items import OutboxItem

Verdict = Literal["ok", "ratelimited", "retry", "blocked", "dead"]

# ``ok: false`` errors Slack documents as transient: retry them like a 5xx.
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
DEFAULT_RETRY_AFTER_S = 1.0
# Errors a person fixes outside the bot; the item waits (slowly retried) instead of being lost:
# the bot was not invited to the channel (``/invite @cloudsync``), or its token is wrong, was
# revoked or belongs to a deactivated workspace. https://docs.slack.dev/reference/methods/chat.postMessage
BLOCKED_ERRORS = frozenset(
    {"not_in_channel", "invalid_auth", "not_authed", "token_revoked", "account_inactive"}
)
# Content Slack refuses (msg_too_long: text over 40,000 characters; invalid_blocks: a Block Kit
# limit broken): sent once more as clipped plain text, so the words still reach the channel.
CONTENT_ERRORS = frozenset({"msg_too_long", "invalid_blocks"})
PLAIN_TEXT_LIMIT = 3000


@dataclass
class Outcome:
    verdict: Verdict
    method: str
    status: int = 0
    ts: str | None = None
    channel: str | None = None
    retry_after: float = 0.0
    reason: str = ""  # ratelimited | server_error | connection_error | <slack error>
    degraded: bool = False  # sent as plain text after Slack refused the blocks or the length


class Unresolved(Exception):
    """The message an update or thread reply refers to was never posted (its post died)."""


def method_of(item: OutboxItem) -> str:
    return {
        "post": "chat.postMessage",
        "update": "chat.update",
        "ephemeral": "chat.postEphemeral",
        "home": "views.publish",
    }[item.kind]


def _call(client: WebClient, item: OutboxItem, resolve: Any) -> tuple[dict[str, Any], str | None]:
    """Make the Slack call; returns (answer data, channel)."""
    content = item.content
    blocks = content.get("blocks")
    extra: dict[str, Any] = {"blocks": blocks} if blocks is not None else {}
    if item.kind == "post":
        if item.thread_key:
            parent = resolve(item.thread_key)
            if parent is None:
                raise Unresolved("parent_not_posted")
            extra["thread_ts"] = parent[1]
            if item.reply_broadcast:
                extra["reply_broadcast"] = True
        resp = client.chat_postMessage(channel=str(item.channel), text=content["text"], **extra)
    elif item.kind == "update":
        target = resolve(str(item.key))
        if target is None:
            raise Unresolved("message_not_posted")
        resp = client.chat_update(channel=target[0], ts=target[1], text=content["text"], **extra)
    elif item.kind == "ephemeral":
        resp = client.chat_postEphemeral(
            channel=str(item.channel), user=str(item.user), text=content["text"], **extra
        )
    else:
        resp = client.views_publish(user_id=str(item.user), view=content["view"])
    data = resp.data if isinstance(resp.data, dict) else {}
    return data, data.get("channel")


def _retry_after(headers: Any) -> float:
    value = None
    if headers:
        value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else DEFAULT_RETRY_AFTER_S
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S


def plain(item: OutboxItem) -> OutboxItem | None:
    """``item`` as clipped text without blocks (None: nothing to degrade, e.g. a Home view)."""
    if item.kind == "home" or not isinstance(item.content.get("text"), str):
        return None
    text = str(item.content["text"])
    if len(text) > PLAIN_TEXT_LIMIT:
        text = text[: PLAIN_TEXT_LIMIT - 1] + "…"
    content = {k: v for k, v in item.content.items() if k != "blocks"}
    content["text"] = text
    return dataclasses.replace(item, content=content)


def send(client: WebClient, item: OutboxItem, resolve: Any) -> Outcome:
    """Send ``item``; content Slack refuses is sent once more as plain text."""
    outcome = send_once(client, item, resolve)
    if outcome.verdict == "dead" and outcome.reason in CONTENT_ERRORS:
        fallback = plain(item)
        if fallback is not None:
            retried = send_once(client, fallback, resolve)
            retried.degraded = True
            return retried
    return outcome


def send_once(client: WebClient, item: OutboxItem, resolve: Any) -> Outcome:
    """Send ``item`` once. ``resolve(key) -> (channel, ts) | None`` looks up posted messages."""
    method = method_of(item)
    try:
        data, channel = _call(client, item, resolve)
    except Unresolved as exc:
        return Outcome("dead", method, reason=str(exc))
    except SlackApiError as exc:
        status = int(getattr(exc.response, "status_code", 0) or 0)
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = str(data.get("error") or f"http_{status}")
        if status == 429:
            retry_after = _retry_after(exc.response.headers)
            return Outcome("ratelimited", method, status, retry_after=retry_after, reason=error)
        if status >= 500 or status == 408 or error in TRANSIENT_ERRORS:
            return Outcome("retry", method, status, reason="server_error")
        if error in BLOCKED_ERRORS:
            return Outcome("blocked", method, status, reason=error)
        return Outcome("dead", method, status, reason=error)
    except (http.client.HTTPException, OSError):  # URLError, resets, timeouts
        return Outcome("retry", method, reason="connection_error")
    ts = data.get("ts") or data.get("message_ts")
    return Outcome("ok", method, 200, ts=ts, channel=channel)
