"""Run an approved request: per host, in parallel, one session, steps in order, saved as they go.

Safety rules this module enforces:
- a host runs one request at a time (host lease with fencing token, per-host FIFO in approval
  order); every save checks, in the same atomic call, that the leases are still ours and
  passes the token;
- registration steps (connect .. restart) of hosts of one tenant run one host at a time (tenant
  registration lease); preflight, stage and install run in parallel;
- every step's start is saved before it runs and its result before the next begins: a finished
  step's result is saved with the next step's start in one call that also checks the leases
  (one round trip per step transition), or on its own before anything that may wait;
- a repeated or redelivered run re-runs checks, so nothing non-idempotent runs twice, and
  ``connect`` is skipped (no secret sent) when every later sign-in step is already done;
- a restart that an earlier attempt owed (a change done after the restart's last DONE) is
  never skipped by its idle check on a retry or a resumed run;
- preflight runs again first; a fingerprint different from the approved one stops with
  "changed" (the approval was for a different server state);
- a cancel stops the run between steps and terminates the running step, except one that runs
  to completion (``steps.RUNS_TO_COMPLETION``: the installer, which cannot be stopped safely):
  the run waits for it, records its real outcome and duration (and whether it ended before or
  after the cancel was asked), and stops before the next step; it is never retried or started
  again after the cancel.

The path of a step result from the host to Slack, hop by hop:
1. ``RunbookSession.run_step`` (``workers/runbook/session.py``) returns the step's outcome read
   from the host over WS-Management; ``_HostRun._run_step`` turns it into a ``StepResult``.
2. ``_HostRun._save`` hands it to the progress sink, ``RedisProgress.save_steps``
   (``workers/runbook/progress.py``), with the lease token and guards; then tells the run
   observer (``RunObserver.step_saved``; the worker's is ``workers.metrics.RunMetrics``).
3. ``RequestStore.save_steps`` (``workers/domain/store.py``): one Lua call checks the fence and
   the leases, writes the step hash and appends a ``step_started``/``step_finished`` event to
   the event stream (``RequestStore.events_key``, a Redis stream).
4. ``Projector.step`` (``bot/projector.py``, in the bot process) reads the stream with a
   consumer group; ``Projector.project`` posts a thread reply (``_step_reply``) and marks the
   request card for a coalesced re-render (``_flush_cards`` -> ``_update_card``).
5. ``Outbox.post`` / ``Outbox.update`` (``workers/notify/outbox.py``) queue the message in a
   durable per-channel lane in Redis.
6. ``Notifier.tick`` -> ``_serve`` (``workers/notify/notifier.py``) takes the lane's head under
   its lane lease and pacing, and ``sender.send`` (``workers/notify/sender.py``) calls the Slack
   Web API (``chat.postMessage`` / ``chat.update`` through slack_sdk's ``WebClient``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from workers.domain.config import Config, HostConfig, TenantConfig
from workers.domain.model import ChangeKind, Request, StepResult, StepStatus
from workers.domain.redact import Redactor, default_redactor
from workers.domain.secrets import Credential, SecretError, SecretsProvider
from workers.domain.store import decision_facts
from workers.logging_setup import log_context, set_step
from workers.runbook.cancel_story import completion_words, host_state, ran_past_cancel
from workers.runbook.hints import hint_for
from workers.runbook.locks import FenceLost, Lease, LeaseBusy, Locks
from workers.runbook.observer import NoObserver, RunObserver
from workers.runbook.preflight import evaluate
from workers.runbook.progress import ProgressSink
from workers.runbook.session import RunbookSession, SessionLost, StepOutcome
from workers.runbook.steps import (
    RUNS_TO_COMPLETION,
    Step,
    StepBuildError,
    build_steps,
    registration_probe,
)
from workers.settings import KNOB_DEFAULTS

log = logging.getLogger(__name__)

# The one next step after a drift: the request goes back to its approvers with the new facts
# (the engine's reapproval), so neither retry nor a new request is the way on.
DRIFT_NEXT = "approve it again on its card, which now shows the new facts"

HostStatus = Literal["succeeded", "failed", "cancelled", "busy", "changed", "lost"]
_PRIORITY: tuple[HostStatus, ...] = ("lost", "changed", "cancelled", "failed", "busy")


def _took(base: dict[str, Any]) -> float:
    """Seconds between a result's started_at and finished_at (for its log line)."""
    return float(base["finished_at"]) - float(base["started_at"])


@dataclass
class RunnerSettings:
    """The runner's knobs; the engine fills the first three from :class:`Settings`, whose
    defaults these are (one default per knob)."""

    host_wait_s: float = KNOB_DEFAULTS["host_wait_s"]  # queue turn / lease wait before "busy"
    registration_wait_s: float = 1800.0  # wait for the tenant registration lease
    max_parallel: int = KNOB_DEFAULTS["max_parallel"]
    operation_timeout_s: int = 5
    backoff_scale: float = KNOB_DEFAULTS["backoff_scale"]  # tests: e.g. 0.01 for fast retries
    max_reconnects: int = 2
    timeouts: dict[str, float] = field(default_factory=dict)  # step id (or prefix) -> seconds


@dataclass
class HostOutcome:
    host: str
    status: HostStatus
    stopped_at: str | None = None
    error: str | None = None
    hint: str | None = None
    held_by: str | None = None
    reboot_pending: bool = False
    preflight: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunOutcome:
    request_id: str
    status: Literal["succeeded", "failed", "cancelled", "busy", "changed", "lost"]
    hosts: dict[str, HostOutcome]

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "status": self.status,
            "hosts": {k: v.to_dict() for k, v in self.hosts.items()},
        }


class _Stop(Exception):
    """Internal: end this host's run with ``outcome``."""

    def __init__(self, outcome: HostOutcome) -> None:
        super().__init__(outcome.status)
        self.outcome = outcome


def _summary(output: Any, default: str) -> str:
    if isinstance(output, dict) and output.get("summary"):
        return str(output["summary"])
    if isinstance(output, str) and output.strip():
        return output.strip()
    if isinstance(output, list) and output and isinstance(output[-1], str):
        return str(output[-1])
    return default


class Runner:
    def __init__(
        self,
        config: Config,
        secrets: SecretsProvider,
        progress: ProgressSink,
        locks: Locks,
        session_factory: Callable[..., RunbookSession] = RunbookSession,
        clock: Any = time,
        *,
        settings: RunnerSettings | None = None,
        redactor: Redactor | None = None,
        observer: RunObserver | None = None,
    ) -> None:
        self.config = config
        self.secrets = secrets
        self.progress = progress
        self.locks = locks
        self.session_factory = session_factory
        self.clock = clock
        self.settings = settings or RunnerSettings()
        self.redactor = redactor or secrets.redactor or default_redactor
        self.observer: RunObserver = observer or NoObserver()

    def _observe(self, report: Callable[..., None], *args: Any) -> None:
        """Tell the observer; a failing observer is logged, never allowed to stop the run."""
        try:
            report(*args)
        except Exception:
            log.debug("run observer failed", exc_info=True)

    def run(
        self,
        request: Request,
        *,
        should_stop: Callable[[], bool],
        cancel_time: Callable[[], float | None] | None = None,
    ) -> RunOutcome:
        """``cancel_time``: when the cancel was asked, once ``should_stop`` says so (the
        engine's cancel watch); without it, when this run first saw the cancel."""
        hosts = [h.upper() for h in request.change.hosts]
        workers = max(1, min(len(hosts), self.settings.max_parallel))
        secrets = self.secrets.for_run()  # read again every run: a rotated secret needs no restart
        with ThreadPoolExecutor(workers, thread_name_prefix=f"run-{request.id}") as pool:
            futures = {
                h: pool.submit(self._run_host, request, h, should_stop, secrets, cancel_time)
                for h in hosts
            }
            results = {h: f.result() for h, f in futures.items()}
        status: Any = "succeeded"
        for candidate in _PRIORITY:
            if any(r.status == candidate for r in results.values()):
                status = candidate
                break
        return RunOutcome(request.id, status, results)

    def _run_host(
        self,
        request: Request,
        host_name: str,
        should_stop: Callable[[], bool],
        secrets: SecretsProvider,
        cancel_time: Callable[[], float | None] | None = None,
    ) -> HostOutcome:
        with log_context(request_id=request.id, host=host_name):  # a pool thread: set them here
            outcome = self._run_host_in_turn(request, host_name, should_stop, secrets, cancel_time)
            if outcome.status != "busy":  # a busy request keeps its place in the host's queue
                try:
                    self.locks.done(request.id, [host_name.upper()])
                except Exception:
                    log.warning("could not remove %s from the %s queue", request.id, host_name)
        return outcome

    def _run_host_in_turn(
        self,
        request: Request,
        host_name: str,
        should_stop: Callable[[], bool],
        secrets: SecretsProvider,
        cancel_time: Callable[[], float | None] | None = None,
    ) -> HostOutcome:
        try:
            host = self.config.host(host_name)
        except KeyError:
            return HostOutcome(host_name, "failed", error=f"host {host_name} is not in inventory")
        tenant = self.config.tenants[host.tenant]
        try:
            steps = build_steps(
                request.change,
                host,
                tenant,
                from_step=request.retry_from,
                timeouts=self.settings.timeouts,
            )
        except StepBuildError as exc:
            return HostOutcome(host.name, "failed", error=str(exc))
        try:
            head = self.locks.wait_turn(
                request.id, host.name, wait_s=self.settings.host_wait_s, should_stop=should_stop
            )
            if head is not None:
                if should_stop():
                    return HostOutcome(host.name, "cancelled", error="cancelled while queued")
                return HostOutcome(
                    host.name, "busy", held_by=head, error=f"{host.name} is busy with {head}"
                )
            try:
                lease = self.locks.host_lease(
                    host.name,
                    request.id,
                    wait_s=self.settings.host_wait_s,
                    should_stop=should_stop,
                )
            except LeaseBusy as exc:
                if should_stop():
                    return HostOutcome(host.name, "cancelled", error="cancelled while queued")
                return HostOutcome(
                    host.name,
                    "busy",
                    held_by=exc.holder,
                    error=f"{host.name} is busy with {exc.holder or 'another run'}",
                )
            with lease:
                run = _HostRun(
                    self, request, host, tenant, steps, lease, should_stop, secrets, cancel_time
                )
                try:
                    return run.execute()
                except FenceLost as exc:
                    return HostOutcome(host.name, "lost", error=str(exc))
                except _Stop as stop:
                    return stop.outcome
                finally:
                    run.finish()
        except Exception as exc:  # never let one host's bug take the others down
            log.exception("run %s on %s crashed", request.id, host.name)
            text = self.redactor.redact(f"{type(exc).__name__}: {exc}")
            return HostOutcome(host.name, "failed", error=f"internal error: {text}")


class _HostRun:
    """The state of one request on one host (one thread)."""

    def __init__(
        self,
        runner: Runner,
        request: Request,
        host: HostConfig,
        tenant: TenantConfig,
        steps: list[Step],
        lease: Lease,
        should_stop: Callable[[], bool],
        secrets: SecretsProvider,
        cancel_time: Callable[[], float | None] | None = None,
    ) -> None:
        self.r = runner
        self.secrets = secrets  # this run's provider (see Runner.run)
        self.request = request
        # on every step event: what was approved and by whom (read once, not per save)
        self.event_facts = decision_facts(request)
        self.host = host
        self.tenant = tenant
        self.steps = steps
        self.lease = lease
        self.should_stop = should_stop
        self.cancel_time = cancel_time
        self.cancel_seen_at: float | None = None  # when the cancel was asked, once seen
        self.prior = runner.progress.load_steps(request.id, host.name)
        self.session: RunbookSession | None = None
        self.session_steps: list[
            Step
        ] = []  # session steps done in this run (replayed on reconnect)
        self.changed_any = False
        self.installed_now = False
        self.orphans: list[str] = []  # shells of lost connections, deleted from the next one
        self.reg_lease: Lease | None = None
        self.pending: StepResult | None = None  # a finished step's result, saved with the next
        self.probe: dict[str, bool] = {}
        self.reboot_pending = False
        self.preflight: dict[str, Any] | None = None
        last_reg = [i for i, s in enumerate(steps) if s.registration]
        self.last_registration = last_reg[-1] if last_reg else -1

    # --- helpers -------------------------------------------------------------------------

    def _now(self) -> float:
        return float(self.r.clock.time())

    def _save(self, result: StepResult) -> None:
        """Save ``result`` (after any deferred one) in one call that checks our leases."""
        batch = [result] if self.pending is None else [self.pending, result]
        self.pending = None
        guards = []
        for lease in (self.lease, self.reg_lease):
            if lease is None:
                continue
            if lease.lost.is_set():
                raise FenceLost(f"lost the lease {lease.key} (token {lease.token})")
            guards.append((lease.key, lease.value))
        self.r.progress.save_steps(
            self.request.id, batch, self.lease.token, guards, self.event_facts
        )
        for saved in batch:
            self.r._observe(self.r.observer.step_saved, self.request.id, saved)

    def _defer(self, result: StepResult) -> None:
        """Keep a finished step's result to save together with the next step's start."""
        self._flush()
        self.pending = result

    def _flush(self) -> None:
        """Save the deferred result now: before waiting, probing or ending the run."""
        if self.pending is not None:
            result, self.pending = self.pending, None
            self._save(result)

    def _sleep(self, seconds: float) -> None:
        end = self.r.clock.monotonic() + seconds
        while not self.should_stop():
            left = end - self.r.clock.monotonic()
            if left <= 0:
                return
            self.r.clock.sleep(min(left, 0.1))

    def _secrets_for(self, step: Step) -> dict[str, Credential]:
        return self.secrets.resolve_many(list(step.credentials))

    def _result(self, step: Step, status: StepStatus, **kw: Any) -> StepResult:
        done_at = self._done_at(self.prior.get(step.id))
        if step.kind == "change" and status is not StepStatus.DONE and done_at is not None:
            # A step's record is overwritten by each attempt: keep when its change was last
            # made, so a later retry still knows a restart is owed (see _restart_owed).
            kw["data"] = {"done_at": done_at, **kw.get("data", {})}
        return StepResult(
            host=self.host.name, step_id=step.id, title=step.title, status=status, **kw
        )

    @staticmethod
    def _done_at(prev: StepResult | None) -> float | None:
        """When an earlier attempt last made this step's change: its DONE time, or the time a
        later attempt's record carried forward."""
        if prev is None:
            return None
        if prev.status is StepStatus.DONE:
            return prev.finished_at or prev.started_at
        carried = prev.data.get("done_at")
        return float(carried) if isinstance(carried, (int, float)) else None

    def _fail(
        self, step: Step, status: HostStatus, error: str, hint: str | None, **kw: Any
    ) -> None:
        raise _Stop(
            HostOutcome(
                self.host.name,
                status,
                stopped_at=step.id,
                error=error,
                hint=hint,
                reboot_pending=self.reboot_pending,
                preflight=self.preflight,
                **kw,
            )
        )

    def _open(self, stoppable: bool = True) -> RunbookSession:
        if self.session is not None and self.session.alive:
            return self.session
        if self.session is not None:
            if self.session.shell_id:
                self.orphans.append(self.session.shell_id)
            self.session.close()
            self.session = None
        login = self.secrets.get(self.host.credential)
        session = self.r.session_factory(
            self.host,
            login,
            operation_timeout_s=self.r.settings.operation_timeout_s,
            redactor=self.r.redactor,
        )
        self.session = session
        while self.orphans:  # end what lost connections left running on the host
            session.discard_shell(self.orphans.pop())
        for step in self.session_steps:  # a new powershell.exe has no module and no sign-in
            stop = self.should_stop if stoppable else None
            replay = session.run_step(step, self._secrets_for(step), should_stop=stop)
            if replay.status != "done":
                raise SessionLost(
                    f"re-running {step.id} on a new session failed: {replay.error}",
                    may_have_started=False,
                )
        return session

    def finish(self) -> None:
        try:
            self._flush()  # only left over when the run ended by an unexpected error
        except Exception:
            log.warning(
                "could not save the last result of %s on %s", self.request.id, self.host.name
            )
        self._release_registration()
        if self.session is not None:
            self.session.close()
            self.session = None

    def _release_registration(self) -> None:
        if self.reg_lease is not None:
            self.reg_lease.release()
            self.reg_lease = None

    # --- the run -------------------------------------------------------------------------

    def execute(self) -> HostOutcome:
        for index, step in enumerate(self.steps):
            set_step(step.id)  # every line logged for this step names it
            if self.should_stop():
                self._save(
                    self._result(
                        step,
                        StepStatus.CANCELLED,
                        started_at=self._now(),
                        finished_at=self._now(),
                        summary="cancelled before this step started",
                    )
                )
                before = f"; {self.steps[index - 1].id} had already finished" if index else ""
                state = host_state(self.steps, self._done_before(step))
                self._fail(
                    step, "cancelled", f"cancelled before {step.id} started{before}; {state}", None
                )
            if step.id == "connect" and not self.installed_now:
                # an agent installed by this very run has no registration yet: nothing to probe
                self._probe_registration(index)
            if step.id == "connect" and self.probe and all(self.probe.values()):
                self._skip(step, "no sign-in needed: every later sign-in step is already done")
            elif self.probe.get(step.id):
                self._skip(step, "already done (checked before sign-in)")
            else:
                if step.registration:
                    self._take_registration(step)
                self._run_step(step)
            if index == self.last_registration:
                self._release_registration()  # before saving: the next host starts sooner
        self._flush()
        return HostOutcome(
            self.host.name,
            "succeeded",
            reboot_pending=self.reboot_pending,
            preflight=self.preflight,
        )

    def _attempt_no(self, step: Step) -> int:
        prev = self.prior.get(step.id)
        unfinished = (StepStatus.RUNNING, StepStatus.FAILED, StepStatus.CANCELLED)
        return prev.attempt + 1 if prev is not None and prev.status in unfinished else 1

    def _done_earlier(self, step: Step) -> bool:
        prev = self.prior.get(step.id)
        return prev is not None and prev.status in (StepStatus.DONE, StepStatus.RUNNING)

    def _skip(self, step: Step, summary: str) -> None:
        now = self._now()
        if self._done_earlier(step):
            summary += " (in an earlier attempt)"
        self._defer(
            self._result(
                step,
                StepStatus.SKIPPED,
                started_at=now,
                finished_at=now,
                summary=summary,
                attempt=self._attempt_no(step),
            )
        )

    def _probe_registration(self, index: int) -> None:
        probe = registration_probe(self.steps[index + 1 :])
        if probe is None:
            return
        script, ids = probe
        self._flush()
        self.lease.check()  # the probe acts on the host: make sure it is still ours
        step = Step("probe:connect", "registration probe", script, kind="read", timeout_s=120)
        outcome = self._attempts(step, self.steps[index])
        if outcome.status == "done" and isinstance(outcome.output, dict):
            self.probe = {i: outcome.output.get(i) is True for i in ids}

    def _take_registration(self, step: Step) -> None:
        if self.reg_lease is not None:
            return  # every save checks it
        self._flush()  # the card shows what is done while this host waits its turn
        try:
            self.reg_lease = self.r.locks.tenant_registration_lease(
                self.tenant.name,
                f"{self.request.id}:{self.host.name}",
                wait_s=self.r.settings.registration_wait_s,
                should_stop=self.should_stop,
            )
        except LeaseBusy as exc:
            if self.should_stop():
                self._fail(step, "cancelled", "cancelled while waiting for registration", None)
            self._fail(
                step,
                "busy",
                f"waited for the registration lock of tenant '{self.tenant.name}' "
                f"(held by {exc.holder})",
                "another host of this tenant is registering: retry later",
                held_by=exc.holder,
            )

    def _notice_cancel(self) -> bool:
        """The stop check of a step a cancel does not interrupt (``RUNS_TO_COMPLETION``): note
        when the cancel was asked, and never stop the step."""
        if self.cancel_seen_at is None and self.should_stop():
            asked = self.cancel_time() if self.cancel_time is not None else None
            self.cancel_seen_at = asked if asked is not None else self._now()
        return False

    def _cancel_noticed(self) -> bool:
        self._notice_cancel()
        return self.cancel_seen_at is not None

    def _attempts(self, step: Step, reported: Step, *, interruptible: bool = True) -> StepOutcome:
        """Run ``step`` with retries for transient errors and lost sessions. Not
        ``interruptible``: a cancel neither stops it nor lets it start again (no retry, no
        reconnect once the cancel is asked)."""
        transient = [re.compile(p, re.IGNORECASE) for p in step.transient]
        failures = 0
        reconnects = 0
        stop = self.should_stop if interruptible else self._notice_cancel
        while True:
            try:
                session = self._open()
                outcome = session.run_step(step, self._secrets_for(step), should_stop=stop)
            except SecretError as exc:  # shown in chat: the secret's name, never its path
                log.warning("run %s on %s: %s", self.request.id, self.host.name, exc)
                return StepOutcome(step.id, "failed", error=exc.public)
            except SessionLost as exc:
                self.r._observe(self.r.observer.session_lost, self.host.name, exc)
                # Delete the lost shell from the next connection, unless it may still be
                # copying or installing: deleting a shell ends its child processes too, and an
                # installer cut off half-way is worse than an idle shell (install's check waits
                # for a running installer instead).
                lost = self.session.shell_id if self.session is not None else ""
                if lost and step.id not in ("stage", "install"):
                    self.orphans.append(lost)
                self.session = None
                safe = (
                    not exc.may_have_started
                    or step.check is not None
                    or step.kind in ("read", "session")
                )
                retryable = type(exc) is SessionLost and safe
                if not interruptible and self._cancel_noticed():
                    note = " (not retried: the run is cancelled)"
                    return StepOutcome(step.id, "failed", error=f"session lost: {exc}{note}")
                if not retryable or reconnects >= self.r.settings.max_reconnects:
                    note = "" if safe else " (not retried: it may have run and has no check)"
                    return StepOutcome(step.id, "failed", error=f"session lost: {exc}{note}")
                reconnects += 1
                self._sleep(max(reported.backoff_s, 1.0) * self.r.settings.backoff_scale)
                continue
            if (
                outcome.status == "failed"
                and outcome.error
                and failures < step.retries
                and any(p.search(outcome.error) for p in transient)
                and (interruptible or not self._cancel_noticed())
            ):
                failures += 1
                log.info("%s %s transient error, retry %d", self.host.name, step.id, failures)
                self._sleep(step.backoff_s * failures * self.r.settings.backoff_scale)
                continue
            return outcome

    def _redacted(self, data: dict[str, Any]) -> dict[str, Any]:
        """Defence in depth: no script outputs a secret, but mask any that shows up."""
        text = json.dumps(data, default=str)
        clean = self.r.redactor.redact(text)
        return data if clean == text else dict(json.loads(clean))

    def _effective(self, step: Step) -> Step:
        if step.check_when_idle and not self.changed_any and not self._restart_owed(step):
            return replace(step, check=step.check_when_idle)
        return step

    def _restart_owed(self, step: Step) -> bool:
        """Did an earlier attempt change something that ``step`` (the restart) never followed?

        A change step counts when an earlier attempt left it DONE (or RUNNING: it may have
        done its work before the worker died) after the restart's last DONE; the change
        steps are those before the restart in the full change, so ``retry --from restart``
        counts them too."""
        restarted_at = self._done_at(self.prior.get(step.id))
        full = build_steps(self.request.change, self.host, self.tenant)
        ids = [s.id for s in full]
        before = full[: ids.index(step.id)] if step.id in ids else []
        for earlier in before:
            if earlier.kind != "change":
                continue
            prev = self.prior.get(earlier.id)
            changed_at = self._done_at(prev)
            if prev is not None and prev.status is StepStatus.RUNNING:
                changed_at = max(changed_at or 0.0, prev.started_at or 0.0)
            if changed_at is None:
                continue
            if restarted_at is None or changed_at > restarted_at:
                return True
        return False

    def _run_step(self, step: Step) -> None:
        attempt = self._attempt_no(step)
        started = self._now()
        self._save(self._result(step, StepStatus.RUNNING, started_at=started, attempt=attempt))
        effective = self._effective(step)
        log.info("step started attempt=%d", attempt)  # request, host, step: from the context
        interruptible = step.id not in RUNS_TO_COMPLETION
        outcome = self._attempts(effective, step, interruptible=interruptible)
        finished = self._now()
        base: dict[str, Any] = {"started_at": started, "finished_at": finished, "attempt": attempt}
        if (
            not interruptible
            and outcome.status != "skipped"
            and self._cancel_noticed()
            and ran_past_cancel(finished, self.cancel_seen_at)
        ):
            self._ran_past_cancel(step, outcome, base)
        # a cancelled step's line says how it ended; preflight's says what it judged
        if outcome.status != "cancelled" and not (
            outcome.status in ("done", "skipped") and step.id == "preflight"
        ):
            log.info("step ended status=%s in %.1fs", outcome.status, finished - started)
        if outcome.status in ("done", "skipped") and step.id == "preflight":
            self._judge_preflight(step, outcome, base)
            return
        if outcome.status == "done":
            self._defer(self._done(step, outcome, base))
            return
        if outcome.status == "skipped":
            summary = (step.skip_summary or "already done") + (
                " (in an earlier attempt)" if self._done_earlier(step) else ""
            )
            if step.check_when_idle and effective.check == step.check_when_idle:
                summary = "not needed: nothing changed and the service is running"
                if self._done_at(self.prior.get(step.id)) is not None:
                    summary = (
                        "not needed: the service was restarted after the last change "
                        "(in an earlier attempt) and is running"
                    )
            self._defer(self._result(step, StepStatus.SKIPPED, summary=summary, **base))
            return
        error = self.r.redactor.redact(outcome.error or "failed")
        if outcome.status == "cancelled":
            self._cancelled_during(step, base)
        hint = hint_for(error, step)
        self._save(
            self._result(
                step,
                StepStatus.FAILED,
                summary=f"{step.title} failed",
                error=error,
                hint=hint,
                **base,
            )
        )
        self._fail(step, "failed", error, hint)

    def _done(
        self, step: Step, outcome: StepOutcome, base: dict[str, Any], note: str = ""
    ) -> StepResult:
        """The DONE result of ``step`` (``note`` follows its summary), and what it tells the
        rest of the run."""
        data = self._redacted(outcome.output) if isinstance(outcome.output, dict) else {}
        if data.get("reboot_pending"):
            self.reboot_pending = True
        if step.kind == "change":
            self.changed_any = True
        if step.id == "install":
            self.installed_now = True
        if step.kind == "session":
            self.session_steps.append(step)
        summary = self.r.redactor.redact(_summary(outcome.output, "done"))
        summary += f" — {note}" if note else ""
        return self._result(step, StepStatus.DONE, summary=summary, data=data, **base)

    def _ran_past_cancel(self, step: Step, outcome: StepOutcome, base: dict[str, Any]) -> None:
        """The cancel came while ``step`` ran, which a cancel does not interrupt (the
        installer): the run waited for it. Record how it really ended and its real duration,
        stop before the next step, and say what state that leaves the host in."""
        done = self._done_before(step)
        error = self.r.redactor.redact(outcome.error or outcome.status)
        installed: bool | None = outcome.status == "done"
        if not installed:  # its own check (it waits for a running installer) tells the truth
            installed = self._finished_anyway(step)
            if installed:
                base = {**base, "finished_at": self._now()}
        words = completion_words(
            step.id,
            started_at=base["started_at"],
            finished_at=base["finished_at"],
            cancel_at=self.cancel_seen_at,
            succeeded=bool(installed),
        )
        following = self.steps[len(done) + 1 : len(done) + 2]
        then = f"the run stops before {following[0].id}" if following else "the run stops"
        took = base["finished_at"] - base["started_at"]
        if installed:
            if outcome.status != "done":
                words += f" (it reported: {error}; its check confirms its change is in place)"
            log.info("step ended status=done in %.1fs: %s; %s", took, words, then)
            self._defer(self._done(step, outcome, base, note=words))
            state = host_state(self.steps, [*done, step.id])
            story = f"cancelled while {step.id} was running; {words}; {state}"
            self._cancel_next(following, story)  # saved with the step's own result
            self._flush()
            self._fail(step, "cancelled", story, None)
        unknown = "" if installed is False else "; whether its change took effect is unknown"
        log.info("step ended status=failed in %.1fs: %s: %s%s", took, words, error, unknown)
        hint = hint_for(error, step)
        self._save(
            self._result(
                step,
                StepStatus.FAILED,
                summary=f"{step.title} failed after the cancel",
                error=f"{words}: {error}",
                hint=hint,
                **base,
            )
        )
        state = host_state(self.steps, done)
        story = f"cancelled while {step.id} was running; {words}: {error}{unknown}; {state}"
        self._fail(step, "cancelled", story, None)

    def _done_before(self, step: Step) -> list[str]:
        """The steps before ``step``: each finished (done or skipped), or the run had stopped."""
        ids = [s.id for s in self.steps]
        return ids[: ids.index(step.id)] if step.id in ids else []

    def _finished_anyway(self, step: Step) -> bool | None:
        """After a cancel terminated ``step``: did its work finish all the same? Its read-only
        check answers (install's waits for a running installer first); None when the step has
        no check or the check could not run. Not stoppable: the cancel is already under way,
        and the answer is what the operator needs to decide the next step."""
        if step.check is None or step.kind != "change":
            return None
        probe = Step(
            f"{step.id}:check",
            step.title,
            "$null",
            check=step.check,
            kind="read",
            timeout_s=min(step.timeout_s, 180.0),
        )
        try:
            session = self._open(stoppable=False)
            outcome = session.run_step(probe, self._secrets_for(probe))
        except Exception as exc:  # the host away: say we do not know, never guess
            log.info("check after cancel failed: %s", type(exc).__name__)
            return None
        if outcome.status == "skipped":
            return True
        return False if outcome.status == "done" else None

    def _cancelled_during(self, step: Step, base: dict[str, Any]) -> None:
        """A cancel terminated ``step``: record whether it was stopped or had finished, and
        what state that leaves the host in."""
        done = self._done_before(step)
        # the step's own check, not an idle shortcut (restart's "not needed" proves no restart)
        finished = self._finished_anyway(step)
        took = base["finished_at"] - base["started_at"]
        if finished:
            # when its change was made is unknown (before or after the cancel was asked), so
            # the words say only what the check shows
            summary = "stopped by the cancel, but its check shows its change is in place"
            log.info("step ended status=done in %.1fs: %s", took, summary)
            self._save(self._result(step, StepStatus.DONE, summary=summary, **base))
            state = host_state(self.steps, [*done, step.id])
            error = f"cancelled while {step.id} was running: it was stopped, but its check "
            error += f"shows its change is in place; {state}"
            following = self.steps[len(done) + 1 : len(done) + 2]
            self._cancel_next(following, error)
            self._fail(step, "cancelled", error, None)
        if finished is None and step.kind == "change":
            how = "stopped; whether its change took effect is unknown (no check could tell)"
        else:
            how = "stopped before it finished"
        state = host_state(self.steps, done)
        error = f"cancelled while {step.id} was running: {how}; {state}"
        summary = "stopped by the cancel" if finished is False else "cancelled"
        log.info("step ended status=cancelled in %.1fs: %s", took, how)
        self._save(self._result(step, StepStatus.CANCELLED, summary=summary, error=error, **base))
        self._fail(step, "cancelled", error, None)

    def _cancel_next(self, following: Sequence[Step], story: str) -> None:
        """The step after a cancelled one is saved as cancelled before it started (in one call
        with the deferred result of the step that was running), and the host's run ends."""
        if not following:
            return
        now = self._now()
        self._save(
            self._result(
                following[0],
                StepStatus.CANCELLED,
                started_at=now,
                finished_at=now,
                summary="cancelled before this step started",
            )
        )
        self._fail(following[0], "cancelled", story, None)

    def _judge_preflight(self, step: Step, outcome: StepOutcome, base: dict[str, Any]) -> None:
        facts = outcome.output if isinstance(outcome.output, dict) else {}
        require_agent = self.request.change.kind is not ChangeKind.INSTALL
        verdict = evaluate(facts, require_agent=require_agent)
        self.preflight = {**verdict.to_dict(), "facts": facts}
        data = {"facts": facts, "verdict": verdict.to_dict()}
        approved = self.request.preflight.get(self.host.name)
        prev = self.prior.get("preflight")
        resumed = any(k != "preflight" for k in self.prior)
        if resumed and prev is not None and prev.data.get("verdict"):
            # Our own earlier attempt may have installed the agent: compare the rest.
            expected = prev.data["verdict"].get("env_fingerprint")
            actual = verdict.env_fingerprint
        else:
            expected = approved.fingerprint if approved is not None else None
            actual = verdict.fingerprint
        if expected and expected != actual:
            error = "the server changed since the approval (its preflight facts differ)"
            hint = DRIFT_NEXT
            log.info("step ended status=failed in %.1fs: %s", _took(base), error)
            self._save(
                self._result(
                    step,
                    StepStatus.FAILED,
                    summary=error,
                    error=error,
                    hint=hint,
                    data={**data, "changed": True},  # the card says one next step: approve
                    **base,
                )
            )
            self._fail(step, "changed", error, hint)
        if not verdict.ok:
            whats = "; ".join(p.what for p in verdict.blockers)
            fixes = "; ".join(p.fix for p in verdict.blockers)
            error = f"preflight found {len(verdict.blockers)} blocker(s): {whats}"
            log.info("step ended status=failed in %.1fs: %s", _took(base), error)
            self._save(
                self._result(
                    step,
                    StepStatus.FAILED,
                    summary="prerequisites not met",
                    error=error,
                    hint=fixes,
                    data=data,
                    **base,
                )
            )
            self._fail(step, "failed", error, fixes)
        notes = "; ".join(p.what for p in verdict.warnings)
        summary = "prerequisites met" + (f" ({notes})" if notes else "")
        log.info("step ended status=done in %.1fs: %s", _took(base), summary)
        self._defer(self._result(step, StepStatus.DONE, summary=summary, data=data, **base))
