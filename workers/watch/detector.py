"""Pure change detection over agent states: no Redis, no WinRM, no clock of its own.

A host's state is a few aspects (reachable, agent service, updater service, version). A new value
is reported only once it held for ``HOLD`` consecutive reads (flapping is damped); an unreachable
read is a state of its own ("host unreachable") and leaves the other aspects as they were. The
first read of a host (or of an aspect never seen, e.g. after an unreachable start) is the
baseline: adopted without a notice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

HOLD = 2  # reads a new value must hold before it is reported
REACH, SERVICE, UPDATER, VERSION = "reach", "service", "updater", "version"
RUNNING = "Running"
ABSENT = "absent"
UNREACHABLE, REACHABLE = "unreachable", "reachable"


def aspects_of(facts: Mapping[str, Any]) -> dict[str, str]:
    """The compared aspects of one read (``AgentFacts.to_dict()``)."""
    if not facts.get("reachable"):
        return {REACH: UNREACHABLE}
    return {
        REACH: REACHABLE,
        SERVICE: str(facts.get("service") or ABSENT),
        UPDATER: str(facts.get("updater") or ABSENT),
        VERSION: str(facts.get("version") or ABSENT),
    }


@dataclass
class HostWatch:
    """What the watch knows of one host: the reported (``stable``) values and since when, the
    values seen but not yet held long enough (``pending``: value, reads, first seen), and the
    sequence number of its last notice (the notice key is host + change + seq)."""

    stable: dict[str, str] = field(default_factory=dict)
    since: dict[str, float] = field(default_factory=dict)
    pending: dict[str, list[Any]] = field(default_factory=dict)
    seq: int = 0
    last_read: float = 0.0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # why the last read failed (unreachable)
    logon: str | None = None  # the agent service's logon account, as last read (shown only)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostWatch:
        return cls(
            stable={str(k): str(v) for k, v in (data.get("stable") or {}).items()},
            since={str(k): float(v) for k, v in (data.get("since") or {}).items()},
            pending={str(k): list(v) for k, v in (data.get("pending") or {}).items()},
            seq=int(data.get("seq") or 0),
            last_read=float(data.get("last_read") or 0.0),
            errors=list(data.get("errors") or []),
            error=data.get("error"),
            logon=data.get("logon"),
        )

    @property
    def healthy(self) -> bool:
        return self.stable.get(REACH) == REACHABLE and self.stable.get(SERVICE) == RUNNING


@dataclass(frozen=True)
class Change:
    """One reported change of one host aspect (``kind`` names it for people and keys)."""

    host: str
    aspect: str
    old: str
    new: str
    since: float
    seq: int

    @property
    def kind(self) -> str:
        return change_kind(self.aspect, self.old, self.new)


def change_kind(aspect: str, old: str, new: str) -> str:
    if aspect == REACH:
        return "unreachable" if new == UNREACHABLE else "reachable"
    if aspect == SERVICE:
        if old == ABSENT:
            return "agent_installed"
        if new == RUNNING:
            return "agent_started"
        return "agent_stopped" if old == RUNNING else "agent_service_changed"
    if aspect == UPDATER:
        if new == RUNNING:
            return "updater_started"
        return "updater_stopped" if old == RUNNING else "updater_changed"
    return "version_changed"


def _told_by_the_service(aspect: str, old: str, new: str) -> bool:
    """An agent installed or removed is one notice (the service's): its version and updater
    appearing or its version vanishing with it are recorded quietly."""
    if aspect == VERSION:
        return ABSENT in (old, new)
    return aspect == UPDATER and old == ABSENT


def observe(
    host: str, previous: HostWatch | None, read: Mapping[str, str], now: float
) -> tuple[HostWatch, list[Change]]:
    """The host's watch after one read (its ``aspects_of``), and the changes to report."""
    if previous is None:  # the baseline: adopted, not announced
        return HostWatch(stable=dict(read), since=dict.fromkeys(read, now), last_read=now), []
    state = HostWatch.from_dict(previous.to_dict())
    state.last_read = now
    changes: list[Change] = []
    for aspect in [a for a in state.pending if a not in read]:
        del state.pending[aspect]  # not read this time: the run of equal reads is broken
    for aspect, value in read.items():
        old = state.stable.get(aspect)
        if old is None:  # never known (the host was unreachable until now): a baseline
            state.stable[aspect], state.since[aspect] = value, now
            continue
        if old == value:
            state.pending.pop(aspect, None)
            continue
        seen = state.pending.get(aspect)
        if seen and seen[0] == value:
            seen[1] = int(seen[1]) + 1
        else:
            seen = [value, 1, now]
        if int(seen[1]) < HOLD:
            state.pending[aspect] = seen
            continue
        state.pending.pop(aspect, None)
        state.stable[aspect], state.since[aspect] = value, float(seen[2])
        if _told_by_the_service(aspect, old, value):
            continue
        state.seq += 1
        changes.append(Change(host, aspect, old, value, float(seen[2]), state.seq))
    return state, changes


@dataclass
class TenantWatch:
    """A tenant's healthy-agent count as last judged; ``announced``: its shortfall was posted
    (so a recovery is posted only after a shortfall notice, not after a quiet baseline)."""

    below: bool = False
    healthy: int = 0
    since: float = 0.0
    seq: int = 0
    announced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TenantWatch:
        return cls(
            below=bool(data.get("below")),
            healthy=int(data.get("healthy") or 0),
            since=float(data.get("since") or 0.0),
            seq=int(data.get("seq") or 0),
            announced=bool(data.get("announced")),
        )


@dataclass(frozen=True)
class TenantChange:
    tenant: str
    kind: str  # "tenant_below" | "tenant_ok"
    healthy: int
    needed: int
    healthy_hosts: tuple[str, ...]
    since: float
    seq: int


def judge_tenant(
    tenant: str,
    previous: TenantWatch | None,
    hosts: Iterable[tuple[str, HostWatch]],
    needed: int,
    now: float,
) -> tuple[TenantWatch, TenantChange | None]:
    """Fewer than ``needed`` healthy agents (reachable, service Running) among the tenant's
    hosts, judged on the damped host states; the first judgement is a quiet baseline."""
    healthy_hosts = tuple(sorted(name for name, watch in hosts if watch.healthy))
    below = len(healthy_hosts) < needed
    if previous is None:
        return TenantWatch(below=below, healthy=len(healthy_hosts), since=now), None
    state = TenantWatch.from_dict(previous.to_dict())
    state.healthy = len(healthy_hosts)
    if below == state.below:
        return state, None
    state.below, state.since = below, now
    if below:
        state.seq += 1
        state.announced = True
        return state, TenantChange(
            tenant, "tenant_below", len(healthy_hosts), needed, healthy_hosts, now, state.seq
        )
    if not state.announced:
        return state, None
    state.seq += 1
    state.announced = False
    change = TenantChange(
        tenant, "tenant_ok", len(healthy_hosts), needed, healthy_hosts, now, state.seq
    )
    return state, change
