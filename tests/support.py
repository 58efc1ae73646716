"""Helpers shared by the tests (fixtures live in the conftest files)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    predicate: Callable[[], T], *, what: str, timeout: float = 5.0, interval: float = 0.01
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that value; fail naming
    ``what`` was waited for. Tests of threads, processes and paced queues wait with this instead
    of sleeping a fixed time, so they are as fast as the code allows and say why they failed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
