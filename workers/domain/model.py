"""The domain's nouns: what a request asks for, its states, and what a step reported.

Plain dataclasses with explicit to/from dict so they can be stored in Redis as JSON and passed to
Celery by id only. No Slack, no Celery, no WinRM here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {State.SUCCEEDED, State.FAILED, State.DENIED, State.CANCELLED, State.EXPIRED}
)
ACTIVE_STATES = frozenset({State.APPROVED, State.QUEUED, State.RUNNING})

# Every move a request's state may make, and the use case that makes it. The store refuses any
# other (``RequestStore.update``), so a new code path cannot invent one. Staying in the same
# state (an approval of N, a preflight, a cancel flag, a resumed run) is always allowed.
ALLOWED_TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING_APPROVAL: frozenset(
        {
            State.APPROVED,  # documented step; approve goes straight on to queued today
            State.QUEUED,  # the last approval needed
            State.DENIED,
            State.CANCELLED,
            State.EXPIRED,
        }
    ),
    State.APPROVED: frozenset({State.QUEUED, State.CANCELLED}),  # recovery queues it
    State.QUEUED: frozenset(
        {
            State.RUNNING,  # a worker starts it
            State.CANCELLED,
            State.FAILED,  # the worker refused to start it (approvals not valid)
        }
    ),
    State.RUNNING: frozenset(
        {
            State.QUEUED,  # a host is busy with another request: wait
            State.PENDING_APPROVAL,  # the server changed since approval
            State.SUCCEEDED,
            State.FAILED,
            State.CANCELLED,
        }
    ),
    State.FAILED: frozenset({State.QUEUED}),  # retry
    State.SUCCEEDED: frozenset(),
    State.DENIED: frozenset(),
    State.CANCELLED: frozenset(),  # final: a new request is needed
    State.EXPIRED: frozenset(),
}


def may_transition(old: State, new: State) -> bool:
    """Whether a request in ``old`` may move to ``new`` (see ``ALLOWED_TRANSITIONS``)."""
    return new is old or new in ALLOWED_TRANSITIONS[old]


class Cloud(StrEnum):
    PUBLIC = "public"
    USGOV = "usgov"


class ChangeKind(StrEnum):
    """The changes the seed document covers; each one is approval-gated."""

    INSTALL = "install"
    WRITEBACK = "writeback"
    DOMAIN_ADD = "domain_add"
    PERMISSIONS = "permissions"
    RESTART = "restart"
    PROXY_SET = "proxy_set"
    PROXY_CLEAR = "proxy_clear"


PERMISSION_TYPES = (
    "BasicRead",
    "PasswordHashSync",
    "PasswordWriteBack",
    "HybridExchangePermissions",
    "ExchangeMailPublicFolderPermissions",
    "UserGroupCreateDelete",
    "All",
)


@dataclass(frozen=True)
class DomainSpec:
    fqdn: str
    preferred_dcs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"fqdn": self.fqdn, "preferred_dcs": list(self.preferred_dcs)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainSpec:
        return cls(fqdn=data["fqdn"], preferred_dcs=tuple(data.get("preferred_dcs", ())))


@dataclass(frozen=True)
class ChangeSpec:
    """What to do, on which hosts. Every string in here was validated when the command was parsed.

    - INSTALL: hosts, domains (>= 1), gmsa (custom gMSA name or None to create the default),
      cloud, writeback (True to enable after install), permissions (types to grant; forced when a
      custom gMSA is used).
    - WRITEBACK: hosts (exactly one host that has an agent), writeback True/False.
    - DOMAIN_ADD: hosts (one), domains.
    - PERMISSIONS: hosts (one), permissions, permissions_domain (None = forest-wide with EA creds).
    - RESTART: hosts.
    - PROXY_SET: hosts, proxy_url (http://host:port), proxy_bypass (host patterns, see
      ``workers.domain.proxy``). PROXY_CLEAR: hosts.

    The proxy fields are written to the dict only when set, so every other change keeps the
    exact dict (and approval hash) it had before they existed.
    """

    kind: ChangeKind
    hosts: tuple[str, ...]
    domains: tuple[DomainSpec, ...] = ()
    gmsa: str | None = None
    cloud: Cloud = Cloud.PUBLIC
    writeback: bool | None = None
    permissions: tuple[str, ...] = ()
    permissions_domain: str | None = None
    proxy_url: str | None = None
    proxy_bypass: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "hosts": list(self.hosts),
            "domains": [d.to_dict() for d in self.domains],
            "gmsa": self.gmsa,
            "cloud": self.cloud.value,
            "writeback": self.writeback,
            "permissions": list(self.permissions),
            "permissions_domain": self.permissions_domain,
        }
        if self.proxy_url is not None:
            out["proxy_url"] = self.proxy_url
        if self.proxy_bypass:
            out["proxy_bypass"] = list(self.proxy_bypass)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChangeSpec:
        return cls(
            kind=ChangeKind(data["kind"]),
            hosts=tuple(data["hosts"]),
            domains=tuple(DomainSpec.from_dict(d) for d in data.get("domains", ())),
            gmsa=data.get("gmsa"),
            cloud=Cloud(data.get("cloud", "public")),
            writeback=data.get("writeback"),
            permissions=tuple(data.get("permissions", ())),
            permissions_domain=data.get("permissions_domain"),
            proxy_url=data.get("proxy_url"),
            proxy_bypass=tuple(data.get("proxy_bypass", ())),
        )


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class StepResult:
    """One step's outcome on one host, as saved before the next step begins."""

    host: str
    step_id: str
    title: str
    status: StepStatus
    started_at: float | None = None
    finished_at: float | None = None
    summary: str = ""  # one line, plain words: what happened
    error: str | None = None  # the error text (already redacted)
    hint: str | None = None  # what to do next
    data: dict[str, Any] = field(default_factory=dict)  # structured facts (preflight, versions)
    attempt: int = 1

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "step_id": self.step_id,
            "title": self.title,
            "status": self.status.value,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "summary": self.summary,
            "error": self.error,
            "hint": self.hint,
            "data": self.data,
            "attempt": self.attempt,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        return cls(
            host=data["host"],
            step_id=data["step_id"],
            title=data.get("title", data["step_id"]),
            status=StepStatus(data["status"]),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            summary=data.get("summary", ""),
            error=data.get("error"),
            hint=data.get("hint"),
            data=dict(data.get("data") or {}),
            attempt=int(data.get("attempt", 1)),
        )


@dataclass(frozen=True)
class Problem:
    """A preflight blocker or warning: what is wrong, and how to fix it (may be empty)."""

    what: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "fix": self.fix}

    @classmethod
    def from_dict(cls, data: Any) -> Problem:
        if isinstance(data, dict):
            return cls(what=str(data.get("what", "")), fix=str(data.get("fix") or ""))
        return cls(what=str(data))  # a plan warning is stored as plain text


@dataclass
class HostPreflight:
    """One host's preflight, as stored on the request: the verdict, the plan's step list, the
    fingerprints the approval is bound to, and the error when preflight could not run.

    The stored JSON keeps the keys of the earlier untyped entry, so stored requests still load;
    a warning without a fix (the plan's) is stored as plain text, as before."""

    ok: bool = False
    blockers: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step id, title)
    fingerprint: str = ""
    env_fingerprint: str = ""
    facts: dict[str, Any] | None = None
    error: str | None = None

    @property
    def blocked(self) -> bool:
        """Approval is blocked by any blocker, and by a preflight that did not pass."""
        return bool(self.blockers) or not self.ok

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok,
            "blockers": [b.to_dict() for b in self.blockers],
            "warnings": [w.to_dict() if w.fix else w.what for w in self.warnings],
            "steps": [[step_id, title] for step_id, title in self.steps],
            "fingerprint": self.fingerprint,
            "env_fingerprint": self.env_fingerprint,
        }
        if self.facts is not None:
            out["facts"] = self.facts
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostPreflight:
        facts = data.get("facts")
        return cls(
            ok=data.get("ok") is True,
            blockers=[Problem.from_dict(b) for b in data.get("blockers") or ()],
            warnings=[Problem.from_dict(w) for w in data.get("warnings") or ()],
            steps=[(str(s[0]), str(s[1])) for s in data.get("steps") or ()],
            fingerprint=str(data.get("fingerprint") or ""),
            env_fingerprint=str(data.get("env_fingerprint") or ""),
            facts=dict(facts) if isinstance(facts, dict) else None,
            error=None if data.get("error") is None else str(data["error"]),
        )

    @classmethod
    def coerce(cls, value: HostPreflight | dict[str, Any] | None) -> HostPreflight | None:
        """Typed from either form (the check answer travels as a dict in its event)."""
        if value is None or isinstance(value, HostPreflight):
            return value
        return cls.from_dict(value)


@dataclass
class Approval:
    user: str
    at: float
    request_hash: str
    seal: str = ""  # the bot's signature of this approval (domain.seal)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "at": self.at,
            "request_hash": self.request_hash,
            "seal": self.seal,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Approval:
        return cls(
            user=data["user"],
            at=float(data["at"]),
            request_hash=data["request_hash"],
            seal=str(data.get("seal") or ""),
        )


@dataclass
class Request:
    """An install (or other change) request and everything decided about it."""

    id: str
    change: ChangeSpec
    requester: str
    channel: str
    created_at: float
    state: State = State.PENDING_APPROVAL
    expires_at: float | None = None
    approvals: list[Approval] = field(default_factory=list)
    approvals_needed: int = 1
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str | None = None  # deny reason, failure reason, cancel note
    request_hash: str = ""  # hash of change + plan + preflight the approval is bound to
    preflight: dict[str, HostPreflight] = field(default_factory=dict)  # host -> its preflight
    retry_from: str | None = None
    stopped_at: str | None = None  # step id where a cancel/failure stopped it
    attempts: int = 0
    updated_at: float = 0.0
    approval_seal: str = ""  # the bot's signature of the approval decision (domain.seal)

    def __post_init__(self) -> None:
        self.preflight = {
            host: HostPreflight.coerce(pre) or HostPreflight()
            for host, pre in self.preflight.items()
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "change": self.change.to_dict(),
            "requester": self.requester,
            "channel": self.channel,
            "created_at": self.created_at,
            "state": self.state.value,
            "expires_at": self.expires_at,
            "approvals": [a.to_dict() for a in self.approvals],
            "approvals_needed": self.approvals_needed,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
            "reason": self.reason,
            "request_hash": self.request_hash,
            "preflight": {host: pre.to_dict() for host, pre in self.preflight.items()},
            "retry_from": self.retry_from,
            "stopped_at": self.stopped_at,
            "attempts": self.attempts,
            "updated_at": self.updated_at,
            "approval_seal": self.approval_seal,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Request:
        return cls(
            id=data["id"],
            change=ChangeSpec.from_dict(data["change"]),
            requester=data["requester"],
            channel=data["channel"],
            created_at=float(data["created_at"]),
            state=State(data["state"]),
            expires_at=data.get("expires_at"),
            approvals=[Approval.from_dict(a) for a in data.get("approvals", ())],
            approvals_needed=int(data.get("approvals_needed", 1)),
            decided_by=data.get("decided_by"),
            decided_at=data.get("decided_at"),
            reason=data.get("reason"),
            request_hash=data.get("request_hash", ""),
            preflight={
                str(host): HostPreflight.from_dict(pre)
                for host, pre in (data.get("preflight") or {}).items()
            },
            retry_from=data.get("retry_from"),
            stopped_at=data.get("stopped_at"),
            attempts=int(data.get("attempts", 0)),
            updated_at=float(data.get("updated_at", 0.0)),
            approval_seal=str(data.get("approval_seal") or ""),
        )
