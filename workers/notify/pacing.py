"""Pure timing rules: per-lane posting pace (GCRA token bucket) and retry backoff."""

from __future__ import annotations

import random


def post_allowed_at(tat: float, rate: float, burst: int) -> float:
    """Earliest time the next post may go, given the lane's theoretical arrival time ``tat``.

    GCRA: equivalent to a token bucket of ``burst`` tokens refilled at ``rate`` per second,
    but one float of state, which fits a Redis hash field shared by all notifiers.
    """
    return tat - (max(1, burst) - 1) / rate


def next_tat(tat: float, now: float, rate: float) -> float:
    return max(tat, now) + 1.0 / rate


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with +-25 % jitter: base, 2*base, 4*base ... capped at ``cap``."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return min(cap, delay * random.uniform(0.75, 1.25))
