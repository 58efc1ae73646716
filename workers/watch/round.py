"""One fleet watch round: read every watched host, detect changes, record one event per change.

The order makes a repeated round harmless: the notices are claimed (``first_notice``) and
recorded before the new states are saved, so a round interrupted in between computes the same
changes with the same sequence numbers next time and finds them already told.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from workers.domain.config import Config
from workers.domain.store import RequestStore
from workers.runbook.fleet import AgentFacts
from workers.watch.detector import (
    Change,
    HostWatch,
    TenantChange,
    TenantWatch,
    aspects_of,
    judge_tenant,
    observe,
)
from workers.watch.store import WatchStore

log = logging.getLogger(__name__)

EVENT = "watch_change"
Reader = Callable[[list[str]], list[AgentFacts]]


def watch_channel(config: Config) -> str:
    """Where the notices go: policy ``watch_channel``, else the first allowed channel."""
    policy = config.policy
    return policy.watch_channel or (policy.channels[0] if policy.channels else "")


def _host_data(change: Change, config: Config, watch: HostWatch) -> dict[str, Any]:
    host = config.hosts.get(change.host)
    return {
        "host": change.host,
        "tenant": host.tenant if host else "",
        "kind": change.kind,
        "aspect": change.aspect,
        "old": change.old,
        "new": change.new,
        "since": change.since,
        "seq": change.seq,
        "state": dict(watch.stable),
        "errors": list(watch.errors[:1]),
        "reason": watch.error,
    }


def _tenant_data(change: TenantChange) -> dict[str, Any]:
    return {
        "host": "",
        "tenant": change.tenant,
        "kind": change.kind,
        "healthy": change.healthy,
        "needed": change.needed,
        "healthy_hosts": list(change.healthy_hosts),
        "since": change.since,
        "seq": change.seq,
    }


def run_round(
    config: Config,
    store: RequestStore,
    watch: WatchStore,
    read: Reader,
    *,
    now: Callable[[], float] = time.time,
    round_ttl_s: float = 300.0,
) -> list[dict[str, Any]]:
    """Read the inventory's watched hosts once; returns the notices recorded (their data)."""
    token = uuid.uuid4().hex
    if not watch.claim_round(token, round_ttl_s):
        log.info("a watch round is already running; this one is skipped")
        return []
    try:
        return _round(config, store, watch, read, now)
    finally:
        watch.release_round(token)


def _round(
    config: Config, store: RequestStore, watch: WatchStore, read: Reader, now: Callable[[], float]
) -> list[dict[str, Any]]:
    paused = watch.paused()
    targets = [h for h in sorted(config.hosts) if h not in paused]
    facts = read(targets) if targets else []
    at = now()
    known = watch.hosts()
    updated: dict[str, HostWatch] = {}
    notices: list[dict[str, Any]] = []
    for fact in facts:
        if fact.host not in config.hosts:
            continue
        data = fact.to_dict()
        state, changes = observe(fact.host, known.get(fact.host), aspects_of(data), at)
        state.errors = list(data.get("errors") or [])
        state.error = None if fact.reachable else fact.error
        if fact.reachable:
            state.logon = fact.logon
        updated[fact.host] = state
        notices += [_host_data(c, config, state) for c in changes]
    merged = {**known, **updated}
    tenants = watch.tenants()
    judged: dict[str, TenantWatch] = {}
    for tenant in sorted(config.tenants):
        members = [
            (h, merged[h]) for h, c in config.hosts.items() if c.tenant == tenant and h in merged
        ]
        if not members:
            continue
        needed = config.policy.min_healthy_agents
        state_t, change_t = judge_tenant(tenant, tenants.get(tenant), members, needed, at)
        judged[tenant] = state_t
        if change_t is not None:
            notices.append(_tenant_data(change_t))
    channel = watch_channel(config)
    for notice in notices:
        key = f"{notice['host'] or 'tenant:' + notice['tenant']}:{notice['kind']}:{notice['seq']}"
        if watch.first_notice(key):
            store.record("", EVENT, actor=None, data={"channel": channel, "key": key, **notice})
    watch.save_hosts(updated)
    watch.save_tenants(judged)
    return notices
