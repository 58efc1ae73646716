"""Whether a running request should stop, answered from memory.

The runner asks before every step on every host's thread. Reading the request from Redis each
time would put a round trip and a JSON decode of the whole request (preflight facts of every host)
on each step's critical path, and thirty threads would do it at once. One background thread reads
it a few times a second instead; asking is a flag check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class CancelWatch:
    """Polls ``stopped()`` every ``interval_s`` in a daemon thread while in a ``with`` block."""

    def __init__(self, stopped: Callable[[], bool], interval_s: float = 0.25) -> None:
        self._stopped = stopped
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._end = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cancel-watch", daemon=True)

    def __call__(self) -> bool:
        return self._stop.is_set()

    def _poll(self) -> None:
        try:
            if self._stopped():
                self._stop.set()
        except Exception as exc:  # Redis away: keep going; the run's own saves will wait for it
            log.debug("cancel check failed: %s", type(exc).__name__)

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
