"""Where the runner saves each step's start and result: the protocol, and an in-memory sink.

The lead implements :class:`ProgressSink` on Redis (and posts each saved step to Slack from
there). ``fence`` is the host lease's fencing token: a store must refuse (raise FenceLost) a save
whose token is smaller than one it has already accepted for the same request and host, so a worker
that lost its lease cannot overwrite the progress of the one that took over.
"""

from __future__ import annotations

import threading
from typing import Protocol

from workers.domain.model import StepResult
from workers.runbook.locks import FenceLost


class ProgressSink(Protocol):
    def load_steps(self, request_id: str, host: str) -> dict[str, StepResult]:
        """The latest saved result of each step of ``request_id`` on ``host`` (by step id)."""
        ...

    def save_step(self, request_id: str, result: StepResult, fence: int) -> None:
        """Save (replace) one step's result; raise FenceLost when ``fence`` is stale."""
        ...


class InMemoryProgress:
    """A ProgressSink for tests and the console: keeps every save in order, too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: dict[tuple[str, str], dict[str, StepResult]] = {}
        self._fences: dict[tuple[str, str], int] = {}
        self.history: list[tuple[str, StepResult]] = []

    def load_steps(self, request_id: str, host: str) -> dict[str, StepResult]:
        with self._lock:
            saved = self._steps.get((request_id, host), {})
            return {k: StepResult.from_dict(v.to_dict()) for k, v in saved.items()}

    def save_step(self, request_id: str, result: StepResult, fence: int) -> None:
        key = (request_id, result.host)
        with self._lock:
            if fence < self._fences.get(key, 0):
                raise FenceLost(f"stale fencing token {fence} for {request_id} on {result.host}")
            self._fences[key] = fence
            copy = StepResult.from_dict(result.to_dict())
            self._steps.setdefault(key, {})[result.step_id] = copy
            self.history.append((request_id, copy))

    def results(self, request_id: str, host: str) -> list[StepResult]:
        """The latest result per step, in the order steps were first saved."""
        with self._lock:
            return list(self._steps.get((request_id, host), {}).values())
