"""The request's life as use cases: submit, approve, deny, cancel, retry, expire.

Called by the Slack listeners (through the bot) and by the worker. Knows neither Slack nor
Celery: work is handed off through a ``Dispatcher`` and every decision comes from
``workers.domain.policy``. Each use case is one atomic store transition, checked against the
model's ``ALLOWED_TRANSITIONS``; every refusal of a person's decision is an audit event
(``refused``: who, what, why).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any, Protocol

from workers.domain import policy
from workers.domain.config import Config
from workers.domain.model import Approval, ChangeSpec, HostPreflight, Request, State
from workers.domain.seal import ApprovalSealer
from workers.domain.store import RequestStore, TransitionRefused
from workers.domain.validation import ValidationError, validate_change


class Dispatcher(Protocol):
    """Hands work to the engine (Celery in production, by task name)."""

    def preflight(self, request_id: str) -> None: ...

    def run(self, request_id: str) -> None: ...


def blocked_everywhere(request: Request) -> str:
    """Why nothing of ``request`` can be approved (its preflight blocks every host), or ""."""
    hosts = list(request.change.hosts)
    results = [request.preflight.get(h) for h in hosts]
    if not hosts or any(r is None or not r.blocked for r in results):
        return ""
    named = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
    return (
        f"preflight blocked every host ({named}): nothing to approve; apply the fix preflight "
        "names, then submit again"
    )


class RequestService:
    def __init__(
        self,
        store: RequestStore,
        config: Config,
        dispatcher: Dispatcher,
        clock: Callable[[], float] = time.time,
        sealer: ApprovalSealer | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.dispatcher = dispatcher
        self.clock = clock
        self.sealer = sealer or ApprovalSealer.from_config(config)

    # requester side ----------------------------------------------------------------------
    def submit(
        self, change: ChangeSpec, user: str, channel: str, user_groups: Collection[str] = ()
    ) -> Request:
        decision = policy.may_request(self.config.policy, user, channel, user_groups)
        if not decision.allowed:
            raise TransitionRefused(decision.reason)
        now = self.clock()
        request = Request(
            id=self.store.next_id(),
            change=change,
            requester=user,
            channel=channel,
            created_at=now,
            expires_at=now + self.config.policy.approval_expiry_s,
            approvals_needed=self.config.policy.approvals_needed,
        )
        self.store.create(request, actor=user, data={"change": change.to_dict()})
        self.dispatcher.preflight(request.id)
        return request

    def record_preflight(
        self, request_id: str, preflight: dict[str, HostPreflight], request_hash: str
    ) -> Request:
        """The worker's preflight result; binds the approval to this hash. A changed hash voids
        approvals given to the old one. A preflight that blocks every host closes the request
        at once (cancelled, by nobody, with the reason): preflight runs once, so nothing could
        ever be approved, and a request left pending would only wait for its expiry."""
        now = self.clock()

        def mutate(request: Request) -> str | None:
            if request.state is not State.PENDING_APPROVAL:
                return None
            if request.request_hash and request.request_hash != request_hash:
                request.approvals = []
            request.preflight = preflight
            request.request_hash = request_hash
            blocked = blocked_everywhere(request)
            if blocked:
                request.state = State.CANCELLED
                request.decided_by = None
                request.decided_at = now
                request.reason = blocked
            return "preflight"

        return self.store.update(
            request_id,
            mutate,
            actor=None,
            data={
                h: {"ok": p.ok, "blockers": [b.to_dict() for b in p.blockers]}
                for h, p in preflight.items()
            },
        )

    def _audited(
        self,
        action: str,
        request_id: str,
        user: str,
        mutate: Callable[[Request], str | None],
        data: dict[str, Any] | None = None,
    ) -> Request:
        """One person's decision as one store transition; a refusal (not allowed, wrong state,
        no such request) is an audit event too (who, what, why) before it reaches the user."""
        try:
            return self.store.update(request_id, mutate, actor=user, data=data)
        except TransitionRefused as exc:
            self.store.record(
                request_id[:64],
                "refused",
                actor=user,
                data={"action": action, "reason": str(exc)[:500]},
            )
            raise

    # approver side -----------------------------------------------------------------------
    def _host_tags(self, request: Request) -> dict[str, tuple[str, ...]]:
        return {
            h: self.config.hosts[h].tags if h in self.config.hosts else ()
            for h in request.change.hosts
        }

    def approve(
        self, request_id: str, user: str, channel: str, user_groups: Collection[str] = ()
    ) -> Request:
        now = self.clock()

        def mutate(request: Request) -> str:
            self._check_decidable(request, now)
            signed = self.sealer.genuine(request)  # an approval added in Redis counts for nothing
            decision = policy.may_approve(
                self.config.policy, signed, user, channel, user_groups, self._host_tags(request)
            )
            if not decision.allowed:
                raise TransitionRefused(decision.reason)
            blockers = [(h, b) for h, p in request.preflight.items() for b in p.blockers]
            if blockers:
                host, blocker = blockers[0]
                raise TransitionRefused(
                    f"{request.id} cannot be approved: preflight on {host} failed "
                    f"({blocker.what}). Fix: {blocker.fix}"
                )
            if any(
                a.user == user and a.request_hash == request.request_hash for a in signed.approvals
            ):
                raise TransitionRefused(f"You already approved {request.id}.")
            unsigned = self.sealer.unavailable()
            if unsigned is not None:
                raise TransitionRefused(
                    f"{request.id} cannot be approved now: approvals cannot be signed "
                    f"({unsigned}); an admin must configure it."
                )
            approval = Approval(user=user, at=now, request_hash=request.request_hash)
            approval.seal = self.sealer.sign_approval(request, approval)
            request.approvals.append(approval)
            if policy.approvals_complete(request.approvals_needed, self.sealer.genuine(request)):
                request.state = State.QUEUED
                request.decided_by = user
                request.decided_at = now
                request.approval_seal = self.sealer.seal(request)
                return "approved"
            return "approval_added"

        request = self._audited("approve", request_id, user, mutate)
        if request.state is State.QUEUED:
            self.dispatcher.run(request.id)
        return request

    def deny(
        self,
        request_id: str,
        user: str,
        channel: str,
        reason: str,
        user_groups: Collection[str] = (),
    ) -> Request:
        now = self.clock()

        def mutate(request: Request) -> str:
            self._check_decidable(request, now)
            decision = policy.may_deny(
                self.config.policy, request, user, channel, user_groups, self._host_tags(request)
            )
            if not decision.allowed:
                raise TransitionRefused(decision.reason)
            request.state = State.DENIED
            request.decided_by = user
            request.decided_at = now
            request.reason = reason.strip()[:500] or "no reason given"
            return "denied"

        return self._audited("deny", request_id, user, mutate, data={"reason": reason[:500]})

    def check_deny(
        self, request_id: str, user: str, channel: str, user_groups: Collection[str] = ()
    ) -> Request:
        """Whether ``user`` may deny now, asked before the reason modal opens (so nobody types
        a reason that cannot count); writes nothing, but a refusal is audited like any other."""

        def mutate(request: Request) -> None:
            decision = policy.may_deny(
                self.config.policy, request, user, channel, user_groups, self._host_tags(request)
            )
            if not decision.allowed:
                raise TransitionRefused(decision.reason)

        return self._audited("deny", request_id, user, mutate)

    def _check_decidable(self, request: Request, now: float) -> None:
        if request.state is not State.PENDING_APPROVAL:
            who = f" by <@{request.decided_by}>" if request.decided_by else ""
            raise TransitionRefused(f"{request.id} is already {request.state.value}{who}.")
        if policy.is_expired(request, now):
            raise TransitionRefused(f"{request.id} expired; ask the requester to submit it again.")
        if not request.request_hash:
            raise TransitionRefused(
                f"{request.id} is still running its preflight; approve once the card shows it."
            )

    # both --------------------------------------------------------------------------------
    def cancel(self, request_id: str, user: str, user_groups: Collection[str] = ()) -> Request:
        def mutate(request: Request) -> str:
            if request.state.final:
                raise TransitionRefused(f"{request.id} is already {request.state.value}.")
            if user != request.requester and not policy.is_approver(
                self.config.policy, user, user_groups, self._host_tags(request)
            ):
                raise TransitionRefused(
                    f"Only the requester or an approver can cancel {request.id}."
                )
            if request.state is State.RUNNING:
                # The worker sees the flag between steps (and terminates a running step, except
                # the installer, which it waits for) and finishes the transition itself, naming
                # the step it stopped at.
                if request.reason == "cancel requested":
                    raise TransitionRefused(f"Cancellation of {request.id} is already under way.")
                request.reason = "cancel requested"
                return "cancel_requested"
            request.state = State.CANCELLED
            request.decided_by = request.decided_by or user
            request.reason = f"cancelled by <@{user}>"
            return "cancelled"

        return self._audited("cancel", request_id, user, mutate)

    def resubmit_without_blocked(
        self, request_id: str, user: str, user_groups: Collection[str] = ()
    ) -> tuple[Request, list[str]]:
        """A pending request some of whose hosts preflight blocks: a new request for the other
        hosts (its own preflight and approval, as any submission), and this one is cancelled
        naming it. The requester's own choice only: an approver narrowing someone's request
        would be submitting on their behalf. Returns the new request and the hosts left out."""
        request = self.store.get(request_id)
        if request is None:
            raise TransitionRefused("No such request.")
        blocked = [h for h in request.change.hosts if (p := request.preflight.get(h)) and p.blocked]
        others = [h for h in request.change.hosts if h not in blocked]

        def refused(reason: str) -> TransitionRefused:
            self.store.record(
                request_id[:64],
                "refused",
                actor=user,
                data={"action": "resubmit", "reason": reason},
            )
            return TransitionRefused(reason)

        if user != request.requester:
            raise refused(f"Only the requester can resubmit {request.id} without a host.")
        if request.state is not State.PENDING_APPROVAL:
            raise refused(f"{request.id} is already {request.state.value}.")
        if not blocked or not others:
            raise refused(f"{request.id} has no blocked host to leave out, or no other host.")
        fresh = self.submit(
            replace(request.change, hosts=tuple(others)), user, request.channel, user_groups
        )
        left_out = ", ".join(blocked)

        def mutate(old: Request) -> str | None:
            if old.state is not State.PENDING_APPROVAL:
                return None  # decided meanwhile: the new request stands on its own
            old.state = State.CANCELLED
            old.decided_by = user
            old.decided_at = self.clock()
            old.reason = f"resubmitted as {fresh.id} without {left_out}"
            return "cancelled"

        self.store.update(request_id, mutate, actor=user, data={"resubmitted_as": fresh.id})
        return fresh, blocked

    def retry(
        self,
        request_id: str,
        user: str,
        from_step: str | None,
        user_groups: Collection[str] = (),
    ) -> Request:
        def mutate(request: Request) -> str:
            if request.state is State.CANCELLED:
                raise TransitionRefused(
                    f"{request.id} was cancelled, and cancelled is final: submit a new request "
                    "(it needs its own approval)."
                )
            if request.state is not State.FAILED:
                raise TransitionRefused(
                    f"{request.id} is {request.state.value}; only a failed run can be retried."
                )
            if user != request.requester and not policy.is_approver(
                self.config.policy, user, user_groups, self._host_tags(request)
            ):
                raise TransitionRefused(
                    f"Only the requester or an approver can retry {request.id}."
                )
            if not policy.approvals_complete(self.config.policy, self.sealer.genuine(request)):
                raise TransitionRefused(
                    f"{request.id} does not hold the approvals it needs for its current plan "
                    f"({self._approvals_held(request)}); submit a new request instead."
                )
            broken = self.sealer.refusal(request)
            if broken is not None:
                raise TransitionRefused(
                    f"{request.id} cannot be retried: {broken}. Submit a new request."
                )
            request.state = State.QUEUED
            request.retry_from = from_step
            request.reason = None
            request.stopped_at = None
            request.approval_seal = self.sealer.seal(request)  # it binds the step to start from
            return "retried"

        request = self._audited(
            "retry", request_id, user, mutate, data={"from": from_step} if from_step else None
        )
        self.dispatcher.run(request.id)
        return request

    # worker side: a run's life -------------------------------------------------------------
    def _approvals_held(self, request: Request) -> str:
        held = len(policy.valid_approvers(self.sealer.genuine(request)))
        return f"{held} of {policy.needed_of(self.config.policy, request)} approvals"

    def run_refusal(self, request: Request) -> str | None:
        """Why the worker must not run this request, or None. Checked again on every delivery,
        whatever path queued it (the bot's checks are not the only way into the queue): the
        approvals the bot signed are complete, the decision's seal vouches for them and for the
        change, and every value of the change passes the grammar's validators again."""
        unsigned = self.sealer.unavailable()
        if unsigned is not None:
            return f"the approvals of {request.id} cannot be checked ({unsigned})"
        if not policy.approvals_complete(self.config.policy, self.sealer.genuine(request)):
            return (
                f"{request.id} does not hold the approvals it needs for its current plan "
                f"({self._approvals_held(request)} signed by the bot, under the current policy)"
            )
        broken = self.sealer.refusal(request)
        if broken is not None:
            return broken
        try:
            validate_change(request.change, request.retry_from)
        except ValidationError as exc:
            return f"{request.id} holds a value the command grammar refuses: {exc}"
        return None

    def start_run(self, request_id: str) -> Request | None:
        """Queued -> running (or a redelivered running one resumes); None when there is nothing
        to run (cancelled meanwhile, already finished) or the run is refused (``run_refusal``):
        then it fails without touching a host, and a ``refused`` audit event says why."""
        refusals: list[str] = []

        def mutate(request: Request) -> str | None:
            if request.state in (State.QUEUED, State.RUNNING):
                refusal = self.run_refusal(request)
                if refusal is not None:
                    refusals[:] = [refusal]
                    request.state = State.FAILED
                    request.reason = f"refused by the worker: {refusal}"
                    return "finished"
            if request.state is State.QUEUED:
                request.state = State.RUNNING
                request.attempts += 1
                return "started"
            if request.state is State.RUNNING:
                request.attempts += 1
                return "resumed"  # redelivered after a worker died, or recovered
            return None

        request = self.store.update(
            request_id,
            mutate,
            actor=None,
            data=lambda r: {"state": r.state.value, "refused": True} if refusals else {},
        )
        if refusals:
            self.store.record(
                request_id, "refused", actor=None, data={"action": "run", "reason": refusals[0]}
            )
            return None
        return request if request.state is State.RUNNING else None

    def wait_for_hosts(self, request_id: str, held: dict[str, str | None]) -> Request:
        """Running -> queued: a host is busy with another request (``held``: host -> its id)."""

        def mutate(request: Request) -> str | None:
            if request.state is not State.RUNNING:
                return None
            request.state = State.QUEUED
            waits = ", ".join(f"{h} (busy with {b})" for h, b in held.items())
            request.reason = f"waiting for {waits}"
            return "waiting"

        return self.store.update(request_id, mutate, actor=None, data={"held_by": held})

    def finish_run(
        self,
        request_id: str,
        final: State,
        *,
        stopped_at: str | None,
        problems: list[str],
        data: dict[str, Any],
    ) -> Request:
        """Running -> succeeded, failed or cancelled, with the step it stopped at and why."""
        if final not in (State.SUCCEEDED, State.FAILED, State.CANCELLED):
            raise ValueError(f"a run does not finish as {final.value}")

        def mutate(request: Request) -> str | None:
            if request.state is not State.RUNNING:
                return None
            request.state = final
            request.stopped_at = stopped_at
            request.reason = "; ".join(problems)[:1500] or None
            if final is State.CANCELLED:
                request.reason = request.reason or "cancelled"
            return "finished"

        return self.store.update(
            request_id, mutate, actor=None, data={"state": final.value, **data}
        )

    def send_back_for_approval(
        self, request_id: str, preflight: dict[str, HostPreflight], request_hash: str
    ) -> Request:
        """Running -> pending approval: the server changed since approval, so the approvals
        given to the old facts are void and a new round starts on the new ones."""
        now = self.clock()

        def mutate(request: Request) -> str | None:
            if request.state is not State.RUNNING:
                return None
            request.state = State.PENDING_APPROVAL
            request.approvals = []
            request.approval_seal = ""
            request.decided_by = None
            request.decided_at = None
            request.preflight = preflight
            request.request_hash = request_hash
            request.expires_at = now + self.config.policy.approval_expiry_s
            request.reason = (
                "the server changed since the approval: approve it again on the new facts"
            )
            return "reapproval"

        return self.store.update(request_id, mutate, actor=None)

    def queue_approved(self, request_id: str) -> bool:
        """Approved -> queued (recovery of a request left in the documented middle state)."""
        try:
            self.store.transition(
                request_id, [State.APPROVED], State.QUEUED, event="queued", actor=None
            )
        except TransitionRefused:
            return False
        return True

    def expire_due(self) -> list[str]:
        now = self.clock()
        expired = []
        for request in self.store.in_states([State.PENDING_APPROVAL]):
            if not policy.is_expired(request, now):
                continue
            try:
                self.store.transition(
                    request.id,
                    [State.PENDING_APPROVAL],
                    State.EXPIRED,
                    event="expired",
                    actor=None,
                    apply=lambda r: setattr(r, "decided_at", now),
                )
                expired.append(request.id)
            except TransitionRefused:
                continue
        return expired
