"""What a run reports besides its saved progress: a hook the runner calls, named and passed in
explicitly (the worker's is :class:`workers.metrics.RunMetrics`), so nothing has to wrap or patch
the runner to measure it. An observer must be quick and must not raise; the runner logs and
ignores an observer that does, because measuring a run must never change it."""

from __future__ import annotations

from typing import Protocol

from workers.domain.model import StepResult


class RunObserver(Protocol):
    def step_saved(self, request_id: str, result: StepResult) -> None:
        """``result`` (a step's start or its result) was saved under the host lease."""
        ...

    def session_lost(self, host: str, error: BaseException) -> None:
        """The runner saw a WinRM session fail (it may reconnect and retry)."""
        ...


class NoObserver:
    """The default: a run that nobody measures."""

    def step_saved(self, request_id: str, result: StepResult) -> None:
        return

    def session_lost(self, host: str, error: BaseException) -> None:
        return
