"""Load: 200 requests across 30 hosts, submitted within a minute, approved and run. Every one
ends in a final state, none is lost or run twice, each host keeps approval order, Redis memory
stays bounded."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.harness import E2EStack, make_config_dir
from workers.domain.model import FINAL_STATES, State

HOSTS = [f"LOAD{i:02d}" for i in range(30)]
REQUESTS = 200


def _thirty_hosts(inventory: dict[str, Any], policy: dict[str, Any]) -> None:
    for name in HOSTS:
        inventory["hosts"][name] = {"simulated": True, "sim": {"install_s": 0.2}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    workdir: Path = tmp_path_factory.mktemp("load")
    e2e = E2EStack(
        workdir,
        make_config_dir(workdir / "config", _thirty_hosts),
        concurrency=4,
        notifier_rate=1000.0,
    ).start()
    yield e2e
    e2e.stop()


@pytest.mark.timeout(420)
def test_200_requests_across_30_hosts(stack: E2EStack) -> None:
    started = time.monotonic()
    for i in range(REQUESTS):
        user = ("alice", "bob", "carol")[i % 3]
        response = stack.slash(user, f"install {HOSTS[i % len(HOSTS)]} --domain contoso.com")
        assert response.status_code == 200
    assert time.monotonic() - started < 60, "submitted within a minute"
    stack.wait_for(
        lambda: len(stack.store.recent(limit=1000)) == REQUESTS, 60, what="all requests stored"
    )
    requests = sorted(stack.store.recent(limit=1000), key=lambda r: r.id)
    assert len({r.id for r in requests}) == REQUESTS

    # approve each as soon as its preflight is in, by someone other than the requester; a
    # request whose host changed before it ran (an earlier request installed the agent) comes
    # back for a new approval, as it must, and is approved again
    approvals = 0

    def approve_ready() -> bool:
        nonlocal approvals
        done = 0
        for request in requests:
            current = stack.store.get(request.id)
            if current.state in FINAL_STATES:
                done += 1
                continue
            if current.state is not State.PENDING_APPROVAL or not current.request_hash:
                continue
            if any(a.request_hash == current.request_hash for a in current.approvals):
                continue
            approver = "carol" if current.requester != "U03CAROL" else "bob"
            assert stack.click(approver, "approve", request.id).status_code == 200
            approvals += 1
        return done == REQUESTS

    stack.wait_for(approve_ready, 300, what="every request in a final state")
    states = [stack.store.get(r.id).state for r in requests]
    assert all(s is State.SUCCEEDED for s in states), {s.value for s in states}
    assert approvals >= REQUESTS

    # none lost or duplicated: one "approved" and one "finished" event per request
    events = stack.store.events(count=1_000_000)
    per_request: dict[str, list[str]] = defaultdict(list)
    for event in events:
        per_request[event.request].append(event.name)
    for request in requests:
        names = per_request[request.id]
        assert names.count("finished") == 1, (request.id, names)
        assert names.count("approved") == names.count("reapproval") + 1, (request.id, names)

    # per-host order: the final runs start in the order of their (last) approval on each host
    approval_at = {e.request: e.id for e in events if e.name == "approved"}  # the last one
    start_at = {e.request: e.id for e in events if e.name == "started"}
    by_host: dict[str, list[str]] = defaultdict(list)
    for request in requests:
        by_host[request.change.hosts[0]].append(request.id)
    for host, ids in by_host.items():
        by_approval = sorted(ids, key=lambda i: _stream_key(approval_at[i]))
        by_start = sorted(ids, key=lambda i: _stream_key(start_at[i]))
        assert by_start == by_approval, host
        events_on_host = [e["event"] for e in stack.sim_host(host).record.to_dict()["events"]]
        assert events_on_host.count("installer_run") == 1, host

    info = redis.Redis.from_url(stack.redis_url).info("memory")
    assert info["used_memory"] < 64 * 1024 * 1024, info["used_memory_human"]


def _stream_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)
