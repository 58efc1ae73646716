"""The fleet fan-out: 300 simulated hosts over 3 tenants, as requests of the policy's default
size (50 hosts each: two per tenant), served by two worker processes.

Registrations of one tenant run one host at a time (the tenant registration lease), those of
different tenants in parallel; everything else runs in parallel. The ideal is measured in the
same run from the saved step times: no schedule beats the slowest host's own steps, nor the
slowest tenant's registrations one after another (started when its quickest host is ready for
them, followed by its quickest post-registration part).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import tree_peak_mb, tree_rss_mb
from bench.stack import USERS, BenchStack
from workers.domain.model import ChangeKind, ChangeSpec, DomainSpec, Request
from workers.notify.outbox import Outbox
from workers.runbook.steps import build_steps

TENANTS = ("contoso", "northwind", "tailspin")
REQUEST_HOSTS = 50  # the policy's default max_hosts_per_request


def fleet_hosts(per_tenant: int) -> dict[str, dict[str, Any]]:
    return {
        f"F{t}{i:03d}": {"simulated": True, "sim": {"startup_cost_s": 0.2}, "tenant": tenant}
        for t, tenant in enumerate(TENANTS)
        for i in range(per_tenant)
    }


def _worker_pids(stack: BenchStack) -> list[int]:
    return [p.pid for p in stack.local.workers]


def run_fleet(per_tenant: int = 100) -> dict[str, Any]:
    """Start a stack of its own (two workers), run the fleet, return the fanout_300_* figures."""
    from bench.run import FINAL, Bench, wait_for  # the shared helpers of the main bench

    hosts = fleet_hosts(per_tenant)
    total = len(hosts)
    with tempfile.TemporaryDirectory(prefix="cloudsync-fleet-") as tmp:
        worker_env = {"CLOUDSYNC_HOST_WAIT": "120", "CLOUDSYNC_LOG_FORMAT": "json"}
        stack = BenchStack(
            Path(tmp),
            hosts,
            worker_env,
            tenants=TENANTS[1:],
            workers=2,
            concurrency=3,
        ).start()
        try:
            bench = Bench(stack, quick=False)
            idle_mb = sum(tree_rss_mb(pid) for pid in _worker_pids(stack))  # before any request
            names = list(hosts)
            requests: list[Request] = []
            for start in range(0, total, REQUEST_HOSTS):
                chunk = tuple(names[start : start + REQUEST_HOSTS])
                change = ChangeSpec(ChangeKind.INSTALL, chunk, (DomainSpec("contoso.com"),))
                requests.append(bench.service.submit(change, USERS["alice"], "C01OPS"))
            for request in requests:
                bench.preflighted(request.id)
            bench.wait_slack_quiet(timeout=120)
            baseline_mb = sum(tree_rss_mb(pid) for pid in _worker_pids(stack))
            commands_before = int(bench.redis.info("stats")["total_commands_processed"])
            calls_before = len(stack.slack.calls)
            clicked = time.time()
            for request in requests:
                assert stack.post(*stack.click_body("bob", "approve", request.id)) == 200
            done = [
                wait_for(
                    lambda rid=r.id: (x := bench.store.get(rid)) and x.state in FINAL and x,
                    900,
                    "fleet fan-out",
                    every=0.25,
                )
                for r in requests
            ]
            commands = int(bench.redis.info("stats")["total_commands_processed"]) - commands_before
            peak_mb = sum(tree_peak_mb(pid)["sum_mb"] for pid in _worker_pids(stack))
            wait_for(lambda: projected(bench), 300, "the projector to catch up", every=0.25)
            calls = [c for c in stack.slack.calls[calls_before:] if c.method != "response_url"]
            queued = Outbox(bench.redis, prefix=stack.settings.prefix).depth()
            figures = _figures(bench, stack, done, clicked)
        finally:
            stack.stop()
    host_steps = figures.pop("host_steps")
    return {
        **figures,
        "fanout_300_hosts": total,
        "fanout_300_tenants": len(TENANTS),
        "fanout_300_requests": len(done),
        "fanout_300_workers": 2,
        "fanout_300_states": sorted({d.state.value for d in done}),
        "fanout_300_worker_rss_idle_mb": round(idle_mb, 1),
        "fanout_300_worker_rss_before_run_mb": round(baseline_mb, 1),
        "fanout_300_worker_rss_peak_mb": round(peak_mb, 1),
        # the memory 300 hosts cost the workers (their peak, preflights and runs, over the same
        # processes idle before any request), per host; and the whole peak per host
        "fanout_300_rss_mb_per_host": round(max(0.0, peak_mb - idle_mb) / total, 3),
        "fanout_300_rss_mb_per_host_absolute": round(peak_mb / total, 3),
        "fanout_300_redis_commands_per_host_step": round(commands / max(1, host_steps), 2),
        # sent plus still queued once every event is projected (thread replies drain at 1/s)
        "fanout_300_slack_calls_per_host": round((len(calls) + queued) / total, 2),
    }


def projected(bench: Any) -> bool:
    """True when the projector (in the bot process) has handled every event of the stream."""
    for group in bench.redis.xinfo_groups(bench.store.events_key):
        if group.get("name") in (b"projector", "projector"):
            return int(group.get("pending", 0)) + int(group.get("lag") or 0) == 0
    return False


def _figures(bench: Any, stack: BenchStack, done: list[Request], clicked: float) -> dict[str, Any]:
    routed = stack.routed_config()
    per_host: list[float] = []
    tenant_parts: dict[str, dict[str, list[float]]] = {}
    host_steps = 0
    starts: list[float] = []
    for request in done:
        for name in request.change.hosts:
            host = routed.host(name)
            steps = build_steps(request.change, host, routed.tenants[host.tenant])
            order = [s.id for s in steps]
            registration = {s.id for s in steps if s.registration}
            last_reg = max((i for i, sid in enumerate(order) if sid in registration), default=-1)
            par = reg = pre = post = 0.0
            for r in bench.store.load_steps(request.id, name).values():
                if not (r.started_at and r.finished_at):
                    continue
                host_steps += 1
                starts.append(r.started_at)
                took = r.finished_at - r.started_at
                if r.step_id in registration:
                    reg += took
                else:
                    par += took
                    if r.step_id in order and order.index(r.step_id) > last_reg:
                        post += took
                    else:
                        pre += took
            per_host.append(par + reg)
            parts = tenant_parts.setdefault(host.tenant, {"pre": [], "reg": [], "post": []})
            parts["pre"].append(pre)
            parts["reg"].append(reg)
            parts["post"].append(post)
    serial = {
        t: min(p["pre"]) + sum(p["reg"]) + min(p["post"])
        for t, p in tenant_parts.items()
        if p["reg"]
    }
    ideal = max(max(per_host, default=0.0), max(serial.values(), default=0.0))
    measured = max(d.updated_at for d in done) - clicked
    return {
        "host_steps": host_steps,
        "fanout_300_3t_s": round(measured, 2),
        "fanout_300_3t_ideal_s": round(ideal, 2),
        "fanout_300_3t_efficiency": round(ideal / measured, 3) if measured > 0 else None,
        "fanout_300_3t_slowest_tenant_serial_s": round(max(serial.values(), default=0.0), 2),
        "fanout_300_3t_registration_s_by_tenant": {
            t: round(sum(p["reg"]), 2) for t, p in sorted(tenant_parts.items())
        },
        "fanout_300_3t_start_delay_s": round(min(starts) - clicked, 3) if starts else None,
    }
