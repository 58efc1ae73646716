"""A watch round over real Redis: notices are audit events recorded once per host + change +
sequence (a round interrupted before saving its states posts nothing twice); paused hosts are
not read; the tenant shortfall is one notice."""

from __future__ import annotations

from typing import Any

import pytest

from workers.domain.config import REPO_ROOT, load_config
from workers.domain.store import RequestStore
from workers.runbook.fleet import AgentFacts
from workers.watch.round import EVENT, run_round
from workers.watch.store import WatchStore

CONFIG = load_config(REPO_ROOT / "config" / "demo")


class FakeFleet:
    """The reader: every asked host answers with its current (test-controlled) service."""

    def __init__(self) -> None:
        self.service = {h: "Running" for h in ("SYNC01", "SYNC02", "SYNC03")}
        self.asked: list[list[str]] = []

    def __call__(self, hosts: list[str]) -> list[AgentFacts]:
        self.asked.append(list(hosts))
        out = []
        for h in hosts:
            if h in self.service:
                out.append(AgentFacts(h, True, True, "1.1", self.service[h], "Running", "gmsa$"))
            else:
                out.append(AgentFacts(h, True, False))
        return out


def _notices(store: RequestStore) -> list[dict[str, Any]]:
    return [e.data for e in store.events() if e.name == EVENT]


def _round(rclient: Any, fleet: FakeFleet) -> list[dict[str, Any]]:
    return run_round(CONFIG, RequestStore(rclient, prefix="cs"), WatchStore(rclient), fleet)


def test_stop_then_recover_post_one_notice_each(rclient: Any) -> None:
    store, fleet = RequestStore(rclient, prefix="cs"), FakeFleet()
    _round(rclient, fleet)
    assert _notices(store) == []  # the baseline
    assert WatchStore(rclient).hosts()["SYNC01"].logon == "gmsa$"
    fleet.service["SYNC01"] = "Stopped"
    _round(rclient, fleet)
    assert _notices(store) == []  # held for one read only
    _round(rclient, fleet)
    (stopped,) = _notices(store)
    assert stopped["kind"] == "agent_stopped" and stopped["host"] == "SYNC01"
    assert stopped["channel"] == "C01OPS" and stopped["tenant"] == "contoso"
    fleet.service["SYNC01"] = "Running"
    _round(rclient, fleet)
    _round(rclient, fleet)
    assert [n["kind"] for n in _notices(store)] == ["agent_stopped", "agent_started"]


def test_tenant_below_n_is_one_notice(rclient: Any) -> None:
    store, fleet = RequestStore(rclient, prefix="cs"), FakeFleet()
    _round(rclient, fleet)
    fleet.service["SYNC01"] = fleet.service["SYNC02"] = "Stopped"
    for _ in range(4):
        _round(rclient, fleet)
    kinds = [n["kind"] for n in _notices(store)]
    assert kinds.count("tenant_below") == 1 and kinds.count("agent_stopped") == 2
    below = next(n for n in _notices(store) if n["kind"] == "tenant_below")
    assert below["healthy"] == 1 and below["needed"] == 2 and below["healthy_hosts"] == ["SYNC03"]


def test_a_round_run_again_after_a_crash_tells_nothing_twice(
    rclient: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, fleet = RequestStore(rclient, prefix="cs"), FakeFleet()
    _round(rclient, fleet)
    fleet.service["SYNC01"] = "Stopped"
    _round(rclient, fleet)
    real = WatchStore.save_hosts

    def crash(self: WatchStore, states: Any) -> None:
        raise RuntimeError("worker died")

    monkeypatch.setattr(WatchStore, "save_hosts", crash)
    with pytest.raises(RuntimeError):
        _round(rclient, fleet)
    monkeypatch.setattr(WatchStore, "save_hosts", real)
    _round(rclient, fleet)  # the retry: same change, same seq, already told
    assert [n["kind"] for n in _notices(store)] == ["agent_stopped"]


def test_paused_hosts_are_not_read_and_resume_starts_afresh(rclient: Any) -> None:
    watch, fleet = WatchStore(rclient), FakeFleet()
    _round(rclient, fleet)
    assert watch.pause("SYNC01", "U02BOB")
    assert not watch.pause("SYNC01", "U03CAROL")  # already paused: the first pause stands
    _round(rclient, fleet)
    assert "SYNC01" not in fleet.asked[-1] and "SYNC02" in fleet.asked[-1]
    assert watch.paused()["SYNC01"]["by"] == "U02BOB"
    assert watch.resume("SYNC01") and not watch.resume("SYNC01")
    _round(rclient, fleet)
    assert "SYNC01" in fleet.asked[-1]


def test_overlapping_rounds_run_one(rclient: Any) -> None:
    watch = WatchStore(rclient)
    assert watch.claim_round("other", 60)
    fleet = FakeFleet()
    assert _round(rclient, fleet) == [] and fleet.asked == []
    watch.release_round("other")
    _round(rclient, fleet)
    assert fleet.asked
