"""Requests, step results and the event stream, in Redis.

Every state change is one optimistic transaction (WATCH the request key, decide in Python, then
MULTI: write the request and append one event): a double click, two approvers at once or a
redelivered task change nothing the second time. The event stream (``<prefix>:events``) is the
audit trail and also what the Slack side projects into channel messages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from workers.domain.model import Request, State, StepResult, may_transition

# The stream is trimmed by age only (RequestStore.trim_events, from the expiry sweeps of beat,
# the bot and the console), never by length: a length cap would drop audit events silently, and
# every trim must itself be audited.
DAY_S = 86_400.0

_TRIM_EVENTS = """
-- KEYS: event stream. ARGV: min id kept, then the audit_trimmed event's fields (at, data with
-- a %d where the count goes, before) -- trim and record in one step, so no trim goes unaudited
local removed = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
if removed > 0 then
  redis.call('XADD', KEYS[1], '*', 'event', 'audit_trimmed', 'request', '', 'actor', '',
    'at', ARGV[2], 'data', string.format(ARGV[3], removed))
end
return removed
"""


_SAVE_STEPS = """
-- KEYS: fence, steps hash, event stream, then one key per guard
-- ARGV: fence ('' for none), unused, request id, now, number of guards, the guards'
--       expected values, then four per result: step id, result JSON, event name, event data
--       (a JSON object that names the run's plan hash and approver ids)
local guards = tonumber(ARGV[5])
for i = 1, guards do
  if redis.call('GET', KEYS[3 + i]) ~= ARGV[5 + i] then return -1 end
end
if ARGV[1] ~= '' then
  local held = redis.call('GET', KEYS[1])
  if held and tonumber(ARGV[1]) < tonumber(held) then return 0 end
  redis.call('SET', KEYS[1], ARGV[1])
end
for i = 6 + guards, #ARGV, 4 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('XADD', KEYS[3], '*', 'event', ARGV[i + 2],
    'request', ARGV[3], 'actor', '', 'at', ARGV[4], 'data', ARGV[i + 3])
end
return 1
"""


class TransitionRefused(Exception):
    """The change is not allowed now; ``str(exc)`` is user-facing."""


class NotFound(TransitionRefused):
    pass


class IllegalTransition(TransitionRefused):
    """A mutate moved a request to a state ``ALLOWED_TRANSITIONS`` does not allow from its
    current one; nothing was written."""


class FenceLost(Exception):
    """A worker tried to save progress with a lease it no longer holds."""


@dataclass(frozen=True)
class Event:
    id: str
    name: str
    request: str
    actor: str | None
    at: float
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The event as an auditor reads it: ``at`` in ISO-8601 UTC with milliseconds (the
        stream keeps epoch seconds, so events written before this change print the same way)."""
        return {
            "id": self.id,
            "event": self.name,
            "request": self.request,
            "actor": self.actor,
            "at": iso_utc(self.at),
            **({"data": self.data} if self.data else {}),
        }


def iso_utc(ts: float) -> str:
    """``2026-12-01T10:09:58.123Z``: sortable as text, unambiguous about the zone."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def decision_facts(request: Request, before: Request | None = None) -> dict[str, Any]:
    """What an auditor needs on every decision and run event: the plan hash the approvals are
    bound to and who approved (user ids). When the change voided the approvals (reapproval),
    the voided ones are named, with the hash they had approved."""
    facts: dict[str, Any] = {"approvers": [a.user for a in request.approvals]}
    if request.request_hash:
        facts["plan_hash"] = request.request_hash
    if before is not None and before.approvals and not request.approvals:
        facts["approvers"] = [a.user for a in before.approvals]
        facts["approved_plan_hash"] = before.approvals[-1].request_hash
    return facts


def _event_fields(
    name: str, request_id: str, actor: str | None, data: dict[str, Any] | None, now: float
) -> dict[str, str]:
    return {
        "event": name,
        "request": request_id,
        "actor": actor or "",
        "at": repr(now),
        "data": json.dumps(data or {}, sort_keys=True),
    }


def decode_event(entry_id: bytes | str, fields: dict[Any, Any]) -> Event:
    def get(key: str) -> str:
        value = fields.get(key.encode(), fields.get(key, b""))
        return value.decode() if isinstance(value, bytes) else str(value)

    return Event(
        id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        name=get("event"),
        request=get("request"),
        actor=get("actor") or None,
        at=float(get("at") or 0),
        data=json.loads(get("data") or "{}"),
    )


class RequestStore:
    """Redis persistence for requests; the only place that writes request keys."""

    def __init__(self, client: redis.Redis, prefix: str = "cs") -> None:
        self.redis: Any = client  # redis-py's response types are too wide to be useful here
        self.prefix = prefix
        self._save_steps_script = client.register_script(_SAVE_STEPS)
        self._trim_events_script = client.register_script(_TRIM_EVENTS)

    # keys -------------------------------------------------------------------------------
    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def events_key(self) -> str:
        return self._k("events")

    # ids and creation --------------------------------------------------------------------
    def next_id(self) -> str:
        return f"CS-{int(self.redis.incr(self._k('seq'))):04d}"

    def create(self, request: Request, *, actor: str, data: dict[str, Any] | None = None) -> None:
        now = time.time()
        request.updated_at = now
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self._k("req", request.id), json.dumps(request.to_dict()))
        pipe.zadd(self._k("chan", request.channel), {request.id: request.created_at})
        pipe.zadd(self._k("user", request.requester), {request.id: request.created_at})
        pipe.zadd(self._k("all"), {request.id: request.created_at})
        pipe.sadd(self._k("open"), request.id)
        pipe.xadd(
            self.events_key,
            _event_fields("requested", request.id, actor, data, now),  # type: ignore[arg-type]
        )
        pipe.execute()

    def get(self, request_id: str) -> Request | None:
        raw = self.redis.get(self._k("req", request_id))
        if raw is None:
            return None
        return Request.from_dict(json.loads(raw))

    def require(self, request_id: str) -> Request:
        request = self.get(request_id)
        if request is None:
            raise NotFound(f"No request {request_id}.")
        return request

    # transitions -------------------------------------------------------------------------
    def update(
        self,
        request_id: str,
        mutate: Callable[[Request], str | None],
        *,
        actor: str | None,
        data: Callable[[Request], dict[str, Any]] | dict[str, Any] | None = None,
    ) -> Request:
        """Apply ``mutate`` atomically. It returns the event name to record, or None to write
        nothing; it raises TransitionRefused to refuse. A state change the model's
        ``ALLOWED_TRANSITIONS`` does not list raises IllegalTransition and writes nothing.
        Retries on concurrent modification."""
        key = self._k("req", request_id)
        while True:
            with self.redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        raise NotFound(f"No request {request_id}.")
                    request = Request.from_dict(json.loads(raw))
                    before = request.state
                    earlier = Request.from_dict(json.loads(raw))
                    event = mutate(request)
                    if event is None:
                        pipe.unwatch()
                        return request
                    if not may_transition(before, request.state):
                        pipe.unwatch()
                        raise IllegalTransition(
                            f"{request_id} cannot go from {before.value} to {request.state.value}."
                        )
                    now = time.time()
                    request.updated_at = now
                    payload = {
                        **decision_facts(request, earlier),
                        **((data(request) if callable(data) else data) or {}),
                    }
                    pipe.multi()
                    pipe.set(key, json.dumps(request.to_dict()))
                    if request.state.final:
                        pipe.srem(self._k("open"), request.id)
                    else:
                        pipe.sadd(self._k("open"), request.id)
                    pipe.xadd(
                        self.events_key,
                        _event_fields(event, request.id, actor, payload, now),  # type: ignore[arg-type]
                    )
                    pipe.execute()
                    return request
                except redis.WatchError:
                    continue

    def transition(
        self,
        request_id: str,
        allowed_from: Iterable[State],
        to: State,
        *,
        event: str,
        actor: str | None,
        apply: Callable[[Request], None] | None = None,
        data: dict[str, Any] | None = None,
        refuse: Callable[[Request], str] | None = None,
    ) -> Request:
        """Move a request from one of ``allowed_from`` to ``to``, or refuse with a reason."""
        allowed = frozenset(allowed_from)

        def mutate(request: Request) -> str:
            if request.state not in allowed:
                reason = refuse(request) if refuse else None
                raise TransitionRefused(
                    reason or f"{request.id} is {request.state.value}; it cannot become {to.value}."
                )
            request.state = to
            if apply is not None:
                apply(request)
            return event

        return self.update(request_id, mutate, actor=actor, data=data)

    # queries -----------------------------------------------------------------------------
    def _load_many(self, ids: Iterable[bytes | str]) -> list[Request]:
        keys = [self._k("req", i.decode() if isinstance(i, bytes) else i) for i in ids]
        if not keys:
            return []
        out = []
        for raw in self.redis.mget(keys):
            if raw is not None:
                out.append(Request.from_dict(json.loads(raw)))
        return out

    def recent_in_channel(self, channel: str, limit: int = 10) -> list[Request]:
        return self._load_many(self.redis.zrevrange(self._k("chan", channel), 0, limit - 1))

    def recent_of_user(self, user: str, limit: int = 10) -> list[Request]:
        return self._load_many(self.redis.zrevrange(self._k("user", user), 0, limit - 1))

    def count(self) -> int:
        """How many requests the store holds (every state)."""
        return int(self.redis.zcard(self._k("all")))

    def recent(self, limit: int = 20) -> list[Request]:
        return self._load_many(self.redis.zrevrange(self._k("all"), 0, limit - 1))

    def open_requests(self) -> list[Request]:
        return sorted(self._load_many(self.redis.smembers(self._k("open"))), key=lambda r: r.id)

    def in_states(self, states: Iterable[State]) -> list[Request]:
        wanted = frozenset(states)
        return [r for r in self.open_requests() if r.state in wanted]

    # step results ------------------------------------------------------------------------
    def _steps_key(self, request_id: str, host: str) -> str:
        return self._k("steps", request_id, host)

    def load_steps(self, request_id: str, host: str) -> dict[str, StepResult]:
        raw = self.redis.hgetall(self._steps_key(request_id, host))
        results = {}
        for key, value in raw.items():
            step_id = key.decode() if isinstance(key, bytes) else key
            results[step_id] = StepResult.from_dict(json.loads(value))
        return results

    def all_steps(self, request: Request) -> dict[str, list[StepResult]]:
        """Each host's step results in the order they ran."""
        out: dict[str, list[StepResult]] = {}
        for host in request.change.hosts:
            out[host] = sorted(
                self.load_steps(request.id, host).values(),
                key=lambda s: s.started_at or s.finished_at or 0.0,
            )
        return out

    def save_step(self, request_id: str, result: StepResult, fence: int | None = None) -> None:
        """Save one step's start or result (see :meth:`save_steps`)."""
        self.save_steps(request_id, [result], fence)

    def save_steps(
        self,
        request_id: str,
        results: Sequence[StepResult],
        fence: int | None = None,
        guards: Sequence[tuple[str, str]] = (),
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        """Save step starts and results of one host in order, each recorded as an event, in one
        atomic Lua call (one round trip: it sits on every step's critical path). Each event
        names the run's plan hash and approver ids (``facts``, from ``decision_facts`` of the
        request the run was started with; read from the record here when not given). Its actor
        stays empty: the worker acts for the approvers. The facts come from the caller, not
        from decoding the request record inside the call: for a request on hundreds of hosts
        that decode would be most of every save's time, and Redis runs one call at a time.

        ``fence`` is the host lease's fencing token: a save with a token smaller than one
        already accepted for this request and host raises FenceLost and writes nothing, so a
        worker that lost its lease cannot overwrite the progress of the one that took over.
        ``guards`` are (key, value) pairs that must all still hold (the caller's leases); when
        one does not, FenceLost is raised and nothing is written. Checking them in the same call
        as the write leaves no gap between "the lease is mine" and "the progress is saved"."""
        if not results:
            return
        host = results[0].host
        if facts is None:
            request = self.get(request_id)
            facts = decision_facts(request) if request is not None else {}
        args: list[Any] = [
            "" if fence is None else str(int(fence)),
            "",
            request_id,
            repr(time.time()),
            len(guards),
            *(value for _, value in guards),
        ]
        for result in results:
            if result.host != host:
                raise ValueError("save_steps takes the results of one host")
            status = result.status.value
            data = {**facts, "host": host, "step": result.step_id, "status": status}
            args += [
                result.step_id,
                json.dumps(result.to_dict()),
                "step_started" if status == "running" else "step_finished",
                json.dumps(data, sort_keys=True),
            ]
        keys = [
            self._k("fence", request_id, host),
            self._steps_key(request_id, host),
            self.events_key,
            *(key for key, _ in guards),
        ]
        saved = int(self._save_steps_script(keys=keys, args=args))
        if saved == -1:
            held = ", ".join(key for key, _ in guards)
            raise FenceLost(f"{request_id} on {host}: a lease is no longer held ({held})")
        if saved == 0:
            raise FenceLost(f"stale fencing token {fence} for {request_id} on {host}")

    # events ------------------------------------------------------------------------------
    def record(
        self, request_id: str, name: str, *, actor: str | None, data: dict[str, Any] | None = None
    ) -> str:
        """Append one event outside a transition (a refusal); one about a request carries the
        request's decision facts too."""
        try:
            request = self.get(request_id) if request_id else None
        except (ValueError, KeyError, TypeError):  # a damaged record is refused, not audited
            request = None
        if request is not None:
            data = {**decision_facts(request), **(data or {})}
        entry = self.redis.xadd(
            self.events_key,
            _event_fields(name, request_id, actor, data, time.time()),  # type: ignore[arg-type]
        )
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    def trim_events(self, retention_days: float, now: float | None = None) -> int:
        """Drop the events older than ``retention_days`` (XTRIM MINID on the stream's ids, which
        are the server's milliseconds) and record one ``audit_trimmed`` event saying how many and
        up to when; returns how many were removed (0: nothing recorded)."""
        now = time.time() if now is None else now
        cutoff = now - retention_days * DAY_S
        cutoff_ms = max(int(cutoff * 1000), 0)
        data = json.dumps(
            {"before": iso_utc(cutoff_ms / 1000), "removed": 0, "retention_days": retention_days},
            sort_keys=True,
        ).replace('"removed": 0', '"removed": %d')
        removed = self._trim_events_script(
            keys=[self.events_key], args=[f"{cutoff_ms}-0", repr(now), data]
        )
        return int(removed)

    def events(
        self, *, request_id: str | None = None, since: float | None = None, count: int = 10_000
    ) -> list[Event]:
        start = f"{int(since * 1000)}-0" if since else "-"
        raw = self.redis.xrange(self.events_key, min=start, max="+", count=count)
        events = [decode_event(eid, fields) for eid, fields in raw]
        if request_id:
            events = [e for e in events if e.request == request_id]
        return events
