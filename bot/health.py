"""The bot's /healthz: ok only while it can reach both Redis and Slack.

Slack is probed with ``auth.test`` at most every ``interval_s`` (the method is rate limited,
https://docs.slack.dev/apis/web-api/rate-limits), with a short timeout, so a probe never hangs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

PROBE_INTERVAL_S = 30.0
PROBE_TIMEOUT_S = 3


class SlackProbe:
    def __init__(
        self,
        client: WebClient,
        interval_s: float = PROBE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = WebClient(
            token=client.token, base_url=client.base_url, timeout=PROBE_TIMEOUT_S
        )
        self.client.retry_handlers = []
        self.interval_s = interval_s
        self.clock = clock
        self._checked_at: float | None = None
        self._ok = False
        self._lock = threading.Lock()

    def ok(self) -> bool:
        with self._lock:
            now = self.clock()
            if self._checked_at is not None and now - self._checked_at < self.interval_s:
                return self._ok
            try:
                self._ok = bool(self.client.auth_test().get("ok"))
            except Exception:  # refused token, 5xx, unreachable: not healthy
                self._ok = False
            self._checked_at = now
            return self._ok


def bot_health(redis_client: Any, probe: SlackProbe) -> Callable[[], bool]:
    def healthy() -> bool:
        try:
            if not redis_client.ping():
                return False
        except Exception:
            return False
        return probe.ok()

    return healthy
