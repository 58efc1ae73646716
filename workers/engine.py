"""What the worker does with a request: preflight it, run it, answer checks, recover runs.

The Celery tasks call these methods and nothing else. A request's state moves only through the
domain's use cases (``RequestService``), each one atomic store transition checked against the
model's table; the runbook runner does the WinRM work under fenced host leases.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis

from workers import redis_connect
from workers.cancel_watch import CancelWatch
from workers.dispatch import CeleryDispatcher, busy_key
from workers.domain.config import Config, load_config, with_endpoints
from workers.domain.model import ChangeKind, HostPreflight, Problem, Request, State
from workers.domain.secrets import SecretsProvider
from workers.domain.service import RequestService
from workers.domain.store import RequestStore
from workers.logging_setup import current_request, log_context
from workers.metrics import RunMetrics
from workers.runbook import kerberos_login
from workers.runbook.fleet import collect_preflight, read_fleet
from workers.runbook.locks import Locks
from workers.runbook.plan import Plan, plan_hash, render_plan
from workers.runbook.preflight import secret_problems
from workers.runbook.progress import RedisProgress
from workers.runbook.runner import Runner, RunnerSettings, RunOutcome
from workers.settings import Settings
from workers.support_logs import collect_and_upload
from workers.watch.round import run_round
from workers.watch.store import WatchStore

log = logging.getLogger(__name__)

BUSY_RETRY_S = 5.0


def _unblockable(pre: HostPreflight, host: str) -> HostPreflight:
    """A host whose preflight could not run blocks approval with a reason and a fix (naming the
    host itself: a user reads it, so no ``HOST`` placeholder)."""
    if not pre.ok and not pre.blockers:
        pre.blockers.append(
            Problem(
                pre.error or "preflight did not complete",
                "check that the server is reachable over WinRM with the configured "
                f"credential, then run `/cloudsync check {host}`",
            )
        )
    return pre


@dataclass
class Engine:
    config: Config
    settings: Settings
    redis: redis.Redis
    store: RequestStore
    secrets: SecretsProvider
    locks: Locks
    runner: Runner
    service: RequestService
    dispatcher: CeleryDispatcher

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> Engine:
        settings = settings or Settings.from_env()
        config = load_config(settings.config_dir)
        if settings.sim_endpoints:
            config = with_endpoints(config, settings.sim_endpoints)
        url = settings.broker_url
        client = redis_connect.connect(url)
        store = RequestStore(client, prefix=settings.prefix)
        secrets = SecretsProvider(
            config, vault_addr=settings.vault_addr, vault_token=settings.vault_token
        )
        locks = Locks(client, ttl_s=settings.lease_ttl_s, prefix=settings.prefix)
        kerberos_login.use_keytab(settings.keytab)
        runner_settings = RunnerSettings(
            host_wait_s=settings.host_wait_s,
            backoff_scale=settings.backoff_scale,
            # every host of a request in parallel (registration is serialized by its lease)
            max_parallel=settings.max_parallel,
        )
        runner = Runner(
            config,
            secrets,
            RedisProgress(store),
            locks,
            settings=runner_settings,
            observer=RunMetrics(),  # step durations and WinRM errors for /metrics
        )
        from workers.celery_app import app as worker_app

        dispatcher = CeleryDispatcher(url, prefix=settings.prefix, celery=worker_app, client=client)
        service = RequestService(store, config, dispatcher)
        return cls(config, settings, client, store, secrets, locks, runner, service, dispatcher)

    # preflight ---------------------------------------------------------------------------
    def _preflight_hosts(
        self,
        change_hosts: tuple[str, ...],
        require_agent: bool,
        secrets: SecretsProvider,
        gmsa: str | None = None,
    ) -> dict[str, HostPreflight]:
        request_id = current_request.get()  # pool threads do not inherit the task's context

        def one(host: str) -> HostPreflight:
            with log_context(request_id=request_id, host=host, step="preflight"):
                return collect_preflight(
                    self.config, secrets, host, require_agent=require_agent, gmsa=gmsa
                )

        with ThreadPoolExecutor(max(1, min(8, len(change_hosts)))) as pool:
            results = pool.map(one, change_hosts)
            return dict(zip(change_hosts, results, strict=True))

    def _bind(
        self,
        request: Request,
        plan: Plan,
        pre: dict[str, HostPreflight],
        secrets: SecretsProvider,
    ) -> tuple[dict[str, HostPreflight], str]:
        """Attach the plan's steps and warnings per host, block on every secret the plan will
        use that cannot be resolved now; the hash the approval binds to."""
        for host_plan in plan.hosts:
            entry = pre.setdefault(host_plan.host, HostPreflight(ok=False))
            login = self.config.host(host_plan.host).credential
            uses = [(login, "the WinRM sign-in"), *host_plan.secret_uses()]
            missing = secret_problems(uses, secrets)
            if missing:
                entry.ok = False
                entry.blockers.extend(missing)
            _unblockable(entry, host_plan.host)
            entry.steps = [(s.id, s.title) for s in host_plan.steps]
            entry.warnings.extend(Problem(w) for w in host_plan.warnings)
            if host_plan.error:
                entry.ok = False
                entry.blockers.append(
                    Problem(host_plan.error, "correct the request or the inventory")
                )
        fingerprints = {h: p.fingerprint for h, p in pre.items()}
        return pre, plan_hash(request.change, plan, fingerprints)

    def preflight(self, request_id: str) -> None:
        request = self.store.get(request_id)
        if request is None or request.state is not State.PENDING_APPROVAL:
            return
        require_agent = request.change.kind is not ChangeKind.INSTALL
        secrets = self.secrets.for_run()  # read again every preflight: rotation needs no restart
        pre = self._preflight_hosts(
            request.change.hosts, require_agent, secrets, gmsa=request.change.gmsa
        )
        plan = render_plan(request.change, self.config)
        pre, digest = self._bind(request, plan, pre, secrets)
        self.service.record_preflight(request_id, pre, digest)

    # run ---------------------------------------------------------------------------------
    def _clear_stale_heads(self, request: Request) -> None:
        """A request that ended without running (cancelled while queued) leaves its host queues."""
        pipe = self.redis.pipeline(transaction=False)
        for host in request.change.hosts:
            pipe.lindex(self.locks.queue_key(host), 0)
        heads = [h.decode() if isinstance(h, bytes) else h for h in pipe.execute()]
        for host, head in zip(request.change.hosts, heads, strict=True):
            while head is not None and head != request.id:
                other = self.store.get(head)
                if other is not None and not other.state.final:
                    break
                self.locks.done(head, [host])
                head = self.locks.head(host)

    def run(self, request_id: str) -> None:
        current = self.store.get(request_id)
        if current is None:
            return
        if current.state.final:
            self.locks.done(request_id, list(current.change.hosts))
            return
        request = self.service.start_run(request_id)
        if request is None:
            after = self.store.get(request_id)
            if after is not None and after.state.final:  # refused: its host queues move on
                self.locks.done(request_id, list(after.change.hosts))
            return
        self._clear_stale_heads(request)
        with CancelWatch(
            lambda: self._should_stop(request_id),
            asked_at=lambda: self._cancel_asked_at(request_id),
        ) as watch:
            outcome = self.runner.run(
                request, should_stop=watch, cancel_time=lambda: watch.requested_at
            )
        self._finish(request, outcome)

    def _should_stop(self, request_id: str) -> bool:
        current = self.store.get(request_id)
        return (
            current is None
            or current.state is not State.RUNNING
            or current.reason == "cancel requested"
        )

    def _cancel_asked_at(self, request_id: str) -> float | None:
        """When the cancel was asked: the service's cancel is the request's last update while
        it runs (the same instant as its ``cancel_requested`` event)."""
        current = self.store.get(request_id)
        if current is None or current.reason != "cancel requested" or not current.updated_at:
            return None
        return current.updated_at

    def _finish(self, request: Request, outcome: RunOutcome) -> None:
        status = outcome.status
        if status == "lost":
            # Another delivery holds the host now, or the lease lapsed during an outage: let
            # recovery look again once leases could have expired.
            log.warning("run %s lost its lease; recovery will look again", request.id)
            self._schedule_recover()
            return
        if status == "busy":
            held = {h: o.held_by for h, o in outcome.hosts.items() if o.status == "busy"}
            self.service.wait_for_hosts(request.id, held)
            self.dispatcher.run(request.id, countdown=BUSY_RETRY_S)
            return
        if status == "changed":
            self._reapprove(request, outcome)
            return
        final = {
            "succeeded": State.SUCCEEDED,
            "failed": State.FAILED,
            "cancelled": State.CANCELLED,
        }[status]
        problems = [
            f"{h}: {o.error}"
            for h, o in outcome.hosts.items()
            if o.error and o.status != "succeeded"
        ]
        stopped = next((o.stopped_at for o in outcome.hosts.values() if o.stopped_at), None)
        reboot = sorted(h for h, o in outcome.hosts.items() if o.reboot_pending)
        self.service.finish_run(
            request.id,
            final,
            stopped_at=stopped,
            problems=problems,
            data={
                "hosts": {h: o.status for h, o in outcome.hosts.items()},
                **({"reboot_pending": reboot} if reboot else {}),
            },
        )
        self.locks.done(request.id, list(request.change.hosts))

    def _reapprove(self, request: Request, outcome: RunOutcome) -> None:
        """The server changed since approval: back to pending_approval with the new facts."""
        pre = {
            h: HostPreflight.from_dict(o.preflight or {"ok": False})
            for h, o in outcome.hosts.items()
        }
        for host in request.change.hosts:
            if host not in pre:
                old = request.preflight.get(host)
                pre[host] = HostPreflight.from_dict(old.to_dict() if old else {"ok": False})
        plan = render_plan(request.change, self.config)
        pre, digest = self._bind(request, plan, pre, self.secrets.for_run())
        self.service.send_back_for_approval(request.id, pre, digest)
        self.locks.done(request.id, list(request.change.hosts))

    # read-only answers -------------------------------------------------------------------
    def _answer(self, token: str, name: str, channel: str, user: str, data: dict[str, Any]) -> None:
        try:
            self.store.record("", name, actor=None, data={"channel": channel, "user": user, **data})
        finally:
            if token:
                self.redis.srem(busy_key(self.settings.prefix), token)

    def check(self, host: str, channel: str, user: str, token: str = "") -> None:
        try:
            pre = _unblockable(collect_preflight(self.config, self.secrets.for_run(), host), host)
        except Exception as exc:
            pre = _unblockable(HostPreflight(ok=False, error=type(exc).__name__), host)
        data = {"host": host, "preflight": pre.to_dict()}
        self._answer(token, "check_result", channel, user, data)

    def fleet(self, channel: str, user: str, token: str = "") -> None:
        facts = [f.to_dict() for f in read_fleet(self.config, self.secrets.for_run())]
        self._answer(token, "fleet_result", channel, user, {"facts": facts})

    def watch(self) -> list[dict[str, Any]]:
        """One fleet watch round (the beat task): notices for what changed since the last."""
        secrets = self.secrets.for_run()
        return run_round(
            self.config,
            self.store,
            WatchStore(self.redis, self.settings.prefix),
            lambda hosts: read_fleet(self.config, secrets, hosts),
            round_ttl_s=max(60.0, self.settings.watch_interval_s),
        )

    def logs(self, host: str, since_s: int, channel: str, user: str, token: str = "") -> None:
        data = collect_and_upload(
            self.config, self.secrets.for_run(), self.settings, host, since_s, channel
        )
        self._answer(token, "logs_result", channel, user, data)

    # recovery ----------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Dispatch again the runs whose worker died: RUNNING with no live host lease, and
        QUEUED/APPROVED ones left idle. A duplicate dispatch is harmless (leases, checks)."""
        now = time.time()
        ttl = self.settings.lease_ttl_s
        again: list[str] = []
        uncertain = False
        for request in self.store.in_states([State.APPROVED, State.QUEUED, State.RUNNING]):
            if request.state is State.RUNNING:
                held = [
                    h for h in request.change.hosts if self.locks.holder(self.locks.host_key(h))
                ]
                if held:
                    uncertain = True  # maybe alive, maybe a dead worker's lease not yet lapsed
                    continue
                if now - request.updated_at < ttl:
                    uncertain = True
                    continue
            elif now - request.updated_at < 2 * ttl:
                continue
            if request.state is State.APPROVED and not self.service.queue_approved(request.id):
                continue
            self.dispatcher.run(request.id)
            again.append(request.id)
        if uncertain:
            self._schedule_recover()
        return again

    def _schedule_recover(self) -> None:
        self.dispatcher.recover(countdown=max(1.0, self.settings.lease_ttl_s))

    def mark_ready(self) -> None:
        self.redis.set(f"{self.settings.prefix}:workers-ready", "1", ex=86400)
