"""Slack user-group membership for policy checks, cached because the API is Tier 2 (~20/min).

Each group's member list is fetched with ``usergroups.users.list`` at most once per ``ttl_s``.
When Slack answers with an error (429, 5xx, a missing scope, a network failure) the last known
member list is kept and the failure is logged; a group never seen before counts as empty, so an
outage can only ever take rights away, never grant them. After a failure the group is not asked
again before ``Retry-After`` (429) or ``error_backoff_s``, so a broken Slack is not hammered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    members: frozenset[str] = frozenset()
    fetched_at: float | None = None  # None: never fetched successfully
    next_try: float = 0.0  # do not ask Slack again before this (after an error)


class GroupResolver:
    """Which of the candidate Slack user groups a user belongs to (thread-safe)."""

    def __init__(
        self,
        client: WebClient,
        ttl_s: float,
        *,
        error_backoff_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = float(ttl_s)
        self._backoff = float(error_backoff_s)
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def groups_of(self, user: str, candidate_groups: Iterable[str]) -> set[str]:
        """The subset of ``candidate_groups`` that ``user`` is a member of."""
        return {g for g in dict.fromkeys(candidate_groups) if user in self.members(g)}

    def members(self, group: str) -> frozenset[str]:
        """The group's members: cached, refreshed after the TTL, last known value on errors."""
        with self._lock_for(group):
            entry = self._entries.setdefault(group, _Entry())
            now = self._clock()
            fresh = entry.fetched_at is not None and now - entry.fetched_at < self._ttl
            if fresh or now < entry.next_try:
                return entry.members
            try:
                response = self._client.usergroups_users_list(usergroup=group)
                users = response.get("users") or []
                entry.members = frozenset(str(u) for u in users)
                entry.fetched_at = now
                entry.next_try = 0.0
            except SlackApiError as exc:
                entry.next_try = now + self._wait_after(exc)
                log.warning(
                    "usergroups.users.list %s failed (%s); using the last known members (%d)",
                    group,
                    exc.response.get("error") if exc.response is not None else "no response",
                    len(entry.members),
                )
            except Exception as exc:  # network errors: same rule, keep what we knew
                entry.next_try = now + self._backoff
                log.warning(
                    "usergroups.users.list %s failed (%s); using the last known members (%d)",
                    group,
                    type(exc).__name__,
                    len(entry.members),
                )
            return entry.members

    def invalidate(self, group: str | None = None) -> None:
        """Forget cached members (one group, or all) so the next lookup asks Slack."""
        with self._guard:
            targets = [group] if group is not None else list(self._entries)
            for name in targets:
                entry = self._entries.get(name)
                if entry is not None:
                    entry.fetched_at = None
                    entry.next_try = 0.0

    def _wait_after(self, exc: SlackApiError) -> float:
        response = exc.response
        if response is not None and response.status_code == 429:
            retry_after = (response.headers or {}).get("Retry-After") or (
                response.headers or {}
            ).get("retry-after")
            try:
                return max(1.0, float(retry_after)) if retry_after is not None else self._backoff
            except (TypeError, ValueError):
                return self._backoff
        return self._backoff

    def _lock_for(self, group: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(group, threading.Lock())
