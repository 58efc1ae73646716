"""Counters the Notifier keeps (sent, retried by reason, dead, skipped: already posted before a
Redis failover lost its removal), with an optional hook so the
process can mirror them into Prometheus without this package importing it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

MetricHook = Callable[[str, dict[str, str]], None]


class NotifierMetrics:
    def __init__(self, hook: MetricHook | None = None) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._hook = hook

    def inc(self, name: str, label: str = "") -> None:
        """``name`` is sent|retried|dead|skipped; ``label`` the method or retry reason."""
        with self._lock:
            self._counts[(name, label)] += 1
        if self._hook is not None:
            self._hook(name, {"label": label})

    def count(self, name: str, label: str | None = None) -> int:
        with self._lock:
            return sum(
                n for (k, lab), n in self._counts.items() if k == name and label in (None, lab)
            )
