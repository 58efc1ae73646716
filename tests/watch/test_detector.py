"""The watch's change detector (pure): baseline, damping over two reads, unreachable as a state,
and the tenant's healthy-agent count announced once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workers.watch.detector import (
    HOLD,
    HostWatch,
    aspects_of,
    judge_tenant,
    observe,
)

UP = {"reachable": True, "service": "Running", "updater": "Running", "version": "1.1"}
STOPPED = {**UP, "service": "Stopped"}
DOWN = {"reachable": False}


def _reads(seq: list[dict[str, object]]) -> list[list[str]]:
    """The change kinds reported after each read of ``seq``."""
    state: HostWatch | None = None
    out: list[list[str]] = []
    for i, facts in enumerate(seq):
        state, changes = observe("H", state, aspects_of(facts), float(i))
        out.append([c.kind for c in changes])
    return out


def test_the_first_read_is_a_silent_baseline() -> None:
    assert _reads([STOPPED]) == [[]]
    assert _reads([DOWN]) == [[]]


def test_a_stop_is_reported_after_two_reads_once() -> None:
    assert _reads([UP, STOPPED, STOPPED, STOPPED]) == [[], [], ["agent_stopped"], []]


def test_recovery_is_reported_after_two_reads() -> None:
    seq = [UP, STOPPED, STOPPED, UP, UP]
    assert _reads(seq) == [[], [], ["agent_stopped"], [], ["agent_started"]]


def test_a_flap_is_damped() -> None:
    assert _reads([UP, STOPPED, UP, STOPPED, UP]) == [[], [], [], [], []]


def test_unreachable_is_a_state_and_keeps_the_rest() -> None:
    seq = [UP, DOWN, DOWN, UP, UP]
    assert _reads(seq) == [[], [], ["unreachable"], [], ["reachable"]]


def test_unreachable_start_adopts_the_agent_state_silently() -> None:
    assert _reads([DOWN, STOPPED, STOPPED]) == [[], [], ["reachable"]]


def test_version_and_updater_changes() -> None:
    newer = {**UP, "version": "1.2", "updater": "Stopped"}
    assert sorted(_reads([UP, newer, newer])[2]) == ["updater_stopped", "version_changed"]


def test_an_install_is_one_notice_not_three() -> None:
    bare = {"reachable": True}
    assert _reads([bare, UP, UP]) == [[], [], ["agent_installed"]]


def test_since_is_when_the_new_value_was_first_seen() -> None:
    state, _ = observe("H", None, aspects_of(UP), 0.0)
    state, _ = observe("H", state, aspects_of(STOPPED), 10.0)
    state, changes = observe("H", state, aspects_of(STOPPED), 20.0)
    assert changes[0].since == 10.0 and state.since["service"] == 10.0
    assert changes[0].seq == 1 and state.seq == 1


_states = st.sampled_from(
    [UP, STOPPED, DOWN, {**UP, "version": "2.0"}, {"reachable": True}, {**UP, "updater": None}]
)


@given(st.lists(_states, min_size=1, max_size=30))
def test_every_report_held_for_two_reads_and_seq_counts_them(seq: list[dict[str, object]]) -> None:
    state: HostWatch | None = None
    reported = 0
    history: list[dict[str, str]] = []
    for i, facts in enumerate(seq):
        read = aspects_of(facts)
        history.append(read)
        state, changes = observe("H", state, read, float(i))
        for change in changes:
            # the new value held for the last HOLD reads
            assert all(h.get(change.aspect) == change.new for h in history[-HOLD:])
            assert change.old != change.new
        reported += len(changes)
        assert state.seq == reported  # every seq number is one notice
        # the reported state never names a value of an aspect not read at least twice in a row
        assert not changes or i >= HOLD
    assert state is not None


def _watch(healthy: bool) -> HostWatch:
    stable = aspects_of(UP if healthy else STOPPED)
    return HostWatch(stable=stable)


def test_a_tenant_below_n_is_told_once_and_its_recovery_once() -> None:
    ok = [("A", _watch(True)), ("B", _watch(True))]
    one_down = [("A", _watch(True)), ("B", _watch(False))]
    state, change = judge_tenant("t", None, ok, 2, 0.0)
    assert change is None  # baseline
    state, change = judge_tenant("t", state, one_down, 2, 1.0)
    assert change is not None and change.kind == "tenant_below" and change.healthy == 1
    state, change = judge_tenant("t", state, one_down, 2, 2.0)
    assert change is None
    state, change = judge_tenant("t", state, ok, 2, 3.0)
    assert change is not None and change.kind == "tenant_ok" and change.seq == 2


def test_a_tenant_below_at_baseline_is_quiet_and_so_is_reaching_n() -> None:
    state, change = judge_tenant("t", None, [("A", _watch(False))], 2, 0.0)
    assert change is None and state.below
    state, change = judge_tenant("t", state, [("A", _watch(True)), ("B", _watch(True))], 2, 1.0)
    assert change is None and not state.below
