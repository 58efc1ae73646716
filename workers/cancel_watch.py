"""Whether a running request should stop, answered from memory.

The runner asks before every step on every host's thread. Reading the request from Redis each
time would put a round trip and a JSON decode of the whole request (preflight facts of every host)
on each step's critical path, and thirty threads would do it at once. One background thread reads
it a few times a second instead; asking is a flag check.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class CancelWatch:
    """Polls ``stopped()`` every ``interval_s`` in a daemon thread while in a ``with`` block.

    ``requested_at`` is when the cancel was asked, once seen: ``asked_at()`` (the request's own
    record, the time of its ``cancel_requested`` event) or, without one, when the watch saw it.
    The runner compares it with the end of a step it does not interrupt (the installer), so
    the card can say whether that step finished before the cancel or ran on after it."""

    def __init__(
        self,
        stopped: Callable[[], bool],
        interval_s: float = 0.25,
        *,
        asked_at: Callable[[], float | None] | None = None,
    ) -> None:
        self._stopped = stopped
        self._asked_at = asked_at
        self._interval_s = interval_s
        self.requested_at: float | None = None
        self._stop = threading.Event()
        self._end = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cancel-watch", daemon=True)

    def __call__(self) -> bool:
        return self._stop.is_set()

    def _poll(self) -> None:
        try:
            if self._stopped():
                self.requested_at = self._when_asked()  # before the flag: readers see both
                self._stop.set()
        except Exception as exc:  # Redis away: keep going; the run's own saves will wait for it
            log.debug("cancel check failed: %s", type(exc).__name__)

    def _when_asked(self) -> float:
        seen = time.time()
        if self._asked_at is None:
            return seen
        try:
            asked = self._asked_at()
        except Exception as exc:  # the time is a nicety: never let it stop the cancel
            log.debug("cancel time read failed: %s", type(exc).__name__)
            return seen
        return seen if asked is None else min(float(asked), seen)

    def _watch(self) -> None:
        while not self._end.wait(self._interval_s):
            self._poll()
            if self._stop.is_set():
                return

    def __enter__(self) -> CancelWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._end.set()
        self._thread.join(timeout=5)
