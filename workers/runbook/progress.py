"""Where the runner saves each step's start and result: the protocol and its two sinks, on the
request store in Redis (:class:`RedisProgress`, the worker's) and in memory (tests, console).

``fence`` is the host lease's fencing token: a store must refuse (raise FenceLost) a save
whose token is smaller than one it has already accepted for the same request and host, so a worker
that lost its lease cannot overwrite the progress of the one that took over. ``guards`` are the
runner's leases as (Redis key, value) pairs: a store must refuse the save unless every one still
holds, checked atomically with the write.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from workers.domain.model import StepResult
from workers.domain.store import FenceLost as StoreFenceLost
from workers.domain.store import RequestStore
from workers.redis_retry import retrying
from workers.runbook.locks import FenceLost


class ProgressSink(Protocol):
    def load_steps(self, request_id: str, host: str) -> dict[str, StepResult]:
        """The latest saved result of each step of ``request_id`` on ``host`` (by step id)."""
        ...

    def save_steps(
        self,
        request_id: str,
        results: Sequence[StepResult],
        fence: int,
        guards: Sequence[tuple[str, str]] = (),
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        """Save (replace) results of one host in order, all or none; raise FenceLost when
        ``fence`` is stale or a guard no longer holds. ``facts`` (the run's plan hash and
        approvers) go on each step event."""
        ...


class RedisProgress:
    """The ProgressSink on the request store: each save is one atomic call that checks the fence
    and the guards and appends the step events the bot projects (a short Redis outage is
    ridden out, not failed)."""

    def __init__(self, store: RequestStore) -> None:
        self.store = store

    def load_steps(self, request_id: str, host: str) -> dict[str, StepResult]:
        return retrying(lambda: self.store.load_steps(request_id, host), what="progress")

    def save_steps(
        self,
        request_id: str,
        results: Sequence[StepResult],
        fence: int,
        guards: Sequence[tuple[str, str]] = (),
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            retrying(
                lambda: self.store.save_steps(request_id, results, fence, guards, facts),
                what="progress",
            )
        except StoreFenceLost as exc:
            raise FenceLost(str(exc)) from None


class InMemoryProgress:
    """A ProgressSink for tests and the console: keeps every save in order, too.

    Guards are read from ``redis`` (where the leases live); a sink without one refuses guards
    rather than pretend it checked them."""

    def __init__(self, redis: Any = None) -> None:
        self.redis = redis
        self._lock = threading.Lock()
        self._steps: dict[tuple[str, str], dict[str, StepResult]] = {}
        self._fences: dict[tuple[str, str], int] = {}
        self.history: list[tuple[str, StepResult]] = []

    def load_steps(self, request_id: str, host: str) -> dict[str, StepResult]:
        with self._lock:
            saved = self._steps.get((request_id, host), {})
            return {k: StepResult.from_dict(v.to_dict()) for k, v in saved.items()}

    def save_step(self, request_id: str, result: StepResult, fence: int) -> None:
        self.save_steps(request_id, [result], fence)

    def save_steps(
        self,
        request_id: str,
        results: Sequence[StepResult],
        fence: int,
        guards: Sequence[tuple[str, str]] = (),
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        if guards:
            if self.redis is None:
                raise TypeError("InMemoryProgress needs a redis client to check lease guards")
            held = self.redis.mget([key for key, _ in guards])
            if any(h != value.encode() for h, (_, value) in zip(held, guards, strict=True)):
                raise FenceLost(f"{request_id}: a lease is no longer held")
        with self._lock:
            for result in results:
                key = (request_id, result.host)
                if fence < self._fences.get(key, 0):
                    raise FenceLost(
                        f"stale fencing token {fence} for {request_id} on {result.host}"
                    )
            for result in results:
                key = (request_id, result.host)
                self._fences[key] = fence
                copy = StepResult.from_dict(result.to_dict())
                self._steps.setdefault(key, {})[result.step_id] = copy
                self.history.append((request_id, copy))

    def results(self, request_id: str, host: str) -> list[StepResult]:
        """The latest result per step, in the order steps were first saved."""
        with self._lock:
            return list(self._steps.get((request_id, host), {}).values())
