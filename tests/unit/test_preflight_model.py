"""The typed preflight entry of a request keeps the stored JSON shape: requests stored before
it load, and what it stores has the same keys."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from workers.domain.model import ChangeKind, ChangeSpec, HostPreflight, Problem, Request

STORED_ENTRY = {  # as the worker stored it before the entry was typed
    "ok": False,
    "blockers": [{"what": "TLS 1.2 is not enabled", "fix": "set the keys, then reboot"}],
    "warnings": [
        {
            "what": "the agent is already installed (1.1.96.0)",
            "fix": "steps already done are skipped",
        },
        "SYNC02: certificate validation is OFF for this host",
    ],
    "fingerprint": "a" * 64,
    "env_fingerprint": "b" * 64,
    "facts": {"os_caption": "Windows Server 2022 Datacenter", "dotnet_release": 528449},
    "steps": [["preflight", "Preflight checks"], ["stage", "Stage the installer"]],
}
UNREACHABLE = {"ok": False, "error": "SYNC09 is unreachable", "blockers": [], "warnings": []}


def test_a_stored_entry_loads_typed_and_stores_the_same_json() -> None:
    entry = HostPreflight.from_dict(json.loads(json.dumps(STORED_ENTRY)))
    assert entry.ok is False and entry.blocked
    assert entry.blockers == [Problem("TLS 1.2 is not enabled", "set the keys, then reboot")]
    assert entry.warnings[1] == Problem("SYNC02: certificate validation is OFF for this host")
    assert entry.steps == [("preflight", "Preflight checks"), ("stage", "Stage the installer")]
    assert entry.facts and entry.facts["dotnet_release"] == 528449
    assert entry.to_dict() == STORED_ENTRY


def test_an_unreachable_host_keeps_its_error_and_no_facts() -> None:
    entry = HostPreflight.from_dict(UNREACHABLE)
    assert entry.error == "SYNC09 is unreachable" and entry.facts is None and entry.blocked
    assert set(entry.to_dict()) >= set(UNREACHABLE) and "facts" not in entry.to_dict()


def test_a_stored_request_loads_with_typed_preflight() -> None:
    request = Request(
        id="CS-0001",
        change=ChangeSpec(ChangeKind.RESTART, ("SYNC01",)),
        requester="U1",
        channel="C1",
        created_at=1.0,
    )
    stored = request.to_dict()
    stored["preflight"] = {"SYNC01": STORED_ENTRY, "SYNC09": UNREACHABLE}
    loaded = Request.from_dict(json.loads(json.dumps(stored)))
    assert isinstance(loaded.preflight["SYNC01"], HostPreflight)
    assert loaded.preflight["SYNC01"].fingerprint == "a" * 64
    assert loaded.to_dict()["preflight"]["SYNC01"] == STORED_ENTRY
    assert Request.from_dict(loaded.to_dict()) == loaded


problems = st.builds(Problem, st.text(min_size=1, max_size=20), st.text(max_size=20))


@given(
    ok=st.booleans(),
    blockers=st.lists(problems, max_size=3),
    warnings=st.lists(problems, max_size=3),
    steps=st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10)), max_size=3),
    fingerprint=st.text(max_size=64),
    facts=st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.integers(), max_size=3)),
    error=st.one_of(st.none(), st.text(max_size=20)),
)
def test_round_trip_through_json(
    ok: bool,
    blockers: list[Problem],
    warnings: list[Problem],
    steps: list[tuple[str, str]],
    fingerprint: str,
    facts: dict[str, int] | None,
    error: str | None,
) -> None:
    entry = HostPreflight(ok, blockers, warnings, steps, fingerprint, fingerprint, facts, error)
    assert HostPreflight.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry
