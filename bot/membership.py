"""Whether the bot can post in a channel: Slack lets a bot with ``chat:write`` post only where
it was invited (https://docs.slack.dev/reference/methods/chat.postMessage: ``not_in_channel``).

``conversations.info`` answers ``is_member`` for the bot
(https://docs.slack.dev/reference/methods/conversations.info); a private channel the bot is not
in answers ``channel_not_found``. Membership is cached (the method is Tier 3, 50 per minute);
absence is asked again each time, so an invitation counts at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

MEMBER_TTL_S = 60.0  # a bot removed from a channel is noticed within a minute


def invite_hint(channel: str, problem: str = "not_in_channel") -> str:
    """What a requester reads when the bot cannot post in ``channel`` (``problem``: Slack's
    reason: ``not_in_channel``, ``channel_not_found`` for a private channel, ``is_archived``)."""
    if problem == "is_archived":
        return (
            f":warning: <#{channel}> is archived, so I cannot post the approval card or any "
            "answer there. Unarchive it, or ask from another policy channel."
        )
    return (
        f":warning: I am not a member of <#{channel}>, so I cannot post the approval card or "
        "any answer there. Ask someone in the channel to type `/invite @cloudsync` in it; "
        "nothing is lost: what I queued for the channel is posted as soon as I am in."
    )


class ChannelAccess:
    def __init__(
        self,
        client: WebClient,
        ttl_s: float = MEMBER_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        blocked: Callable[[str], bool] = lambda channel: False,
    ) -> None:
        """``blocked(channel)``: the notifier found Slack refusing the channel (the bot was
        removed since it was last asked): the cached membership is then asked again."""
        self.client = client
        self.blocked = blocked
        self.ttl_s = ttl_s
        self.clock = clock
        self._member_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def problem(self, channel: str) -> str | None:
        """Why the bot cannot post in ``channel`` (``not_in_channel``, ``channel_not_found``,
        ``is_archived``), or None when it can or when Slack cannot tell right now."""
        with self._lock:
            cached = self._member_until.get(channel, 0.0) > self.clock()
        if cached and not self._blocked(channel):
            return None
        try:
            resp = self.client.conversations_info(channel=channel)
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or "")
            if error == "channel_not_found":
                return error
            log.warning("conversations.info failed error=%s channel=%s", error, channel)
            return None
        except OSError as exc:
            log.warning(
                "conversations.info unreachable (%s) channel=%s", type(exc).__name__, channel
            )
            return None
        info = (resp.data if isinstance(resp.data, dict) else {}).get("channel") or {}
        if info.get("is_archived"):
            return "is_archived"
        if not info.get("is_member"):
            return "not_in_channel"
        with self._lock:
            self._member_until[channel] = self.clock() + self.ttl_s
        return None

    def _blocked(self, channel: str) -> bool:
        try:
            return self.blocked(channel)
        except Exception:  # Redis away: the cached answer stands
            return False
