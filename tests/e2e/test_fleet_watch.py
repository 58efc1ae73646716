"""Fleet watch acceptance (issue 16, part 1) through the real stack: Bolt's signed HTTP endpoint,
Redis, a Celery worker running the watch task (sent as beat sends it), WinRM to simulated hosts
and the loopback Slack server. Stopping a simulated agent service gives exactly one channel
notice after two watch reads, with a Restart button whose approved request restarts the agent;
starting it again gives one "recovered" notice; the tenant's fall below N healthy agents (and
its recovery) is said once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import CHANNEL, E2EStack, start_stack
from tests.e2e.slack_helpers import buttons, mark, reply_to
from workers.domain.model import ChangeKind, State
from workers.watch.store import WatchStore

HOSTS = ("WATCH01", "WATCH02")
AGENT = "aadconnectprovisioningagent"


def _two_agents_only(inventory: dict, policy: dict) -> None:  # type: ignore[type-arg]
    """Just two hosts with a registered agent each in one tenant (policy default: N = 2)."""
    installed = {"agent_installed": {"gmsa": "contoso\\pGMSA_watch$"}}
    inventory["hosts"] = {h: {"simulated": True, "sim": dict(installed)} for h in HOSTS}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    workdir: Path = tmp_path_factory.mktemp("watch")
    e2e = start_stack(workdir, _two_agents_only)
    try:
        yield e2e
    finally:
        e2e.stop()


def _round(e2e: E2EStack) -> None:
    """One watch round, sent to the worker as beat sends it; waits until every host was read."""
    watch = WatchStore(e2e.local.ctx.store.redis, e2e.local.ctx.store.prefix)
    before = {h: s.last_read for h, s in watch.hosts().items()}
    e2e.local.ctx.dispatcher.watch()

    def done() -> bool:
        now = watch.hosts()
        read = all(h in now and now[h].last_read > before.get(h, 0.0) for h in HOSTS)
        return read and not watch.round_running()

    e2e.wait_for(done, 60, what="a watch round")
    e2e.wait_quiet()


def _notices(e2e: E2EStack) -> list[Any]:
    return [
        m
        for m in e2e.slack.messages(CHANNEL)
        if m.thread_ts is None
        and any(h in (m.text or "") for h in (*HOSTS, "contoso"))
        and "CS-" not in (m.text or "")
    ]


def _settled(e2e: E2EStack, count: int) -> list[Any]:
    """The watch notices once ``count`` are posted (and no more after the outbox drained)."""
    e2e.wait_for(lambda: len(_notices(e2e)) >= count, 30, what=f"{count} watch notices")
    e2e.wait_for(lambda: e2e.local.ctx.outbox.depth() == 0, 30, what="the outbox drained")
    return _notices(e2e)


def _set_agent(e2e: E2EStack, host: str, status: str) -> None:
    sim = e2e.sim_host(host)
    with sim.lock:
        sim.services[AGENT].status = status


def test_stop_restart_recover(stack: E2EStack) -> None:
    e2e = stack
    _round(e2e)
    assert _settled(e2e, 0) == []  # the baseline is quiet
    _set_agent(e2e, "WATCH01", "Stopped")
    _round(e2e)
    assert _settled(e2e, 0) == []  # held for one read only
    _round(e2e)
    posted = _settled(e2e, 2)
    stopped = [m for m in posted if "WATCH01" in m.text and "stopped" in m.text]
    below = [m for m in posted if "contoso" in m.text and "fewer than the 2" in m.text]
    assert len(stopped) == 1 and len(below) == 1 and len(posted) == 2, [m.text for m in posted]
    assert [b["action_id"] for b in buttons(stopped[0])] == ["watch_restart", "watch_check"]

    seen = mark(e2e, "alice")
    assert e2e.click("alice", "watch_restart", "WATCH01").status_code == 200
    reply_to(e2e, "alice", "created", after=seen)
    request = e2e.latest_request("alice")
    assert request.change.kind is ChangeKind.RESTART and request.change.hosts == ("WATCH01",)
    assert request.requester == "U01ALICE"
    e2e.wait_preflight(request.id)
    assert e2e.click("alice", "approve", request.id).status_code == 200  # never one's own
    assert e2e.store.get(request.id).state is State.PENDING_APPROVAL
    assert e2e.click("bob", "approve", request.id).status_code == 200
    e2e.wait_state(request.id, State.SUCCEEDED)
    assert e2e.sim_host("WATCH01").service(AGENT).status == "Running"

    _round(e2e)
    _round(e2e)
    posted = _settled(e2e, 4)
    recovered = [m for m in posted if "Recovered" in m.text and "WATCH01" in m.text]
    again = [m for m in posted if "contoso" in m.text and "healthy agents again" in m.text]
    assert len(recovered) == 1 and len(again) == 1 and len(posted) == 4, [m.text for m in posted]
    _round(e2e)
    assert len(_settled(e2e, 4)) == 4  # nothing new: no change


def test_status_check_and_pause(stack: E2EStack) -> None:
    e2e = stack
    _round(e2e)
    seen = mark(e2e, "alice")
    assert e2e.slash("alice", "watch status").status_code == 200
    status = reply_to(e2e, "alice", "Fleet watch", after=seen)
    assert "WATCH01: agent Running" in status and "Tenant contoso: 2 healthy" in status

    seen = mark(e2e, "alice")
    assert e2e.click("alice", "watch_check", "WATCH02").status_code == 200
    reply_to(e2e, "alice", "Checking WATCH02", after=seen)

    seen = mark(e2e, "alice")
    assert e2e.slash("alice", "watch pause WATCH02").status_code == 200  # not an approver
    assert reply_to(e2e, "alice", "approver", after=seen).startswith(":no_entry:")
    seen = mark(e2e, "bob")
    assert e2e.slash("bob", "watch pause WATCH02").status_code == 200
    reply_to(e2e, "bob", "no longer reads WATCH02", after=seen)
    watch = WatchStore(e2e.local.ctx.store.redis, e2e.local.ctx.store.prefix)
    before = watch.hosts()
    e2e.local.ctx.dispatcher.watch()
    e2e.wait_for(
        lambda: (
            watch.hosts()["WATCH01"].last_read > before["WATCH01"].last_read
            and not watch.round_running()
        ),
        60,
        what="a round without WATCH02",
    )
    assert watch.hosts()["WATCH02"].last_read == before["WATCH02"].last_read
    seen = mark(e2e, "carol")
    assert e2e.slash("carol", "watch resume WATCH02").status_code == 200
    reply_to(e2e, "carol", "reads WATCH02 again", after=seen)
    _round(e2e)
