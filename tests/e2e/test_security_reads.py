"""Reads under policy (issue 13, attacks 2-4), through Bolt's signed HTTP endpoint on a real stack
(Redis, a Celery worker, WinRM to simulated hosts, loopback Slack): `check`, `agents`, `plan`,
`status` and `list` follow policy.readers and the allowed channels; a refused read reaches no
host, changes nothing in Redis and is audited; `plan` names secrets, not accounts, to a
non-approver; `status ID` only in its channel or for its participants; WinRM-opening reads are
rate-limited per user and one check per host is shared by everyone who asks while it runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.reads import ReadLimits
from tests.e2e.harness import USERS, E2EStack, start_stack
from tests.e2e.security_helpers import (
    diff,
    host_activity,
    last_event_id,
    new_events,
    redis_state,
)
from tests.e2e.slack_helpers import mark, reply_to
from workers.domain.seal import SIGNING_SECRET

ERIN = "U05ERIN"  # a reader only: neither requester nor approver
LAB = "C02LAB"  # a second allowed channel
OTHER = "C09OTHER"  # not allowed


def _two_channels_and_a_reader(inventory: dict, policy: dict) -> None:  # type: ignore[type-arg]
    policy["users"][ERIN] = ERIN
    policy["channels"][LAB] = "lab"
    policy["policy"]["channels"] = ["C01OPS", LAB]
    policy["policy"]["readers"] = {
        "users": [USERS["alice"], USERS["bob"], USERS["carol"], ERIN],
        "groups": [],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    workdir: Path = tmp_path_factory.mktemp("reads")
    e2e = start_stack(workdir, _two_channels_and_a_reader)
    try:
        yield e2e
    finally:
        e2e.stop()


def _refused_without_effect(
    e2e: E2EStack, user: str, text: str, channel: str, needle: str, action: str
) -> str:
    """Send ``text``; the answer is a refusal with ``needle``; no host saw anything, Redis is as
    it was but for one audit event ("refused", with the action and the reason)."""
    e2e.wait_quiet()
    hosts, state, last = host_activity(e2e), redis_state(e2e), last_event_id(e2e)
    seen = mark(e2e, user)
    assert e2e.slash(user, text, channel=channel).status_code == 200
    answer = reply_to(e2e, user, needle, after=seen)
    assert answer.startswith(":no_entry:"), answer
    time.sleep(0.5)  # anything dispatched by mistake would have reached a worker by now
    e2e.wait_quiet()
    assert host_activity(e2e) == hosts, f"{text!r} reached a host"
    assert not diff(state, redis_state(e2e)), f"{text!r} changed Redis"
    events = new_events(e2e, last)
    refused = [e for e in events if e["event"] == "refused"]
    assert [e["event"] for e in events] == ["refused"], events
    assert refused[0]["actor"] == USERS.get(user, user)
    assert refused[0]["request"] == ""
    assert refused[0]["data"]["action"] == action
    assert refused[0]["data"]["reason"] and refused[0]["data"]["reason"] in answer
    return answer


READS = [
    ("check SYNC01", "check"),
    ("agents", "agents"),
    ("plan SYNC01 --domain contoso.com", "plan"),
    ("status", "status"),
    ("list", "list"),
    ("list --mine", "list"),
]


@pytest.mark.parametrize(("text", "action"), READS)
def test_a_non_reader_is_refused_every_read(stack: E2EStack, text: str, action: str) -> None:
    answer = _refused_without_effect(stack, "mallory", text, "C01OPS", "not allowed", action)
    assert "Readers:" in answer


@pytest.mark.parametrize(("text", "action"), READS)
def test_a_reader_is_refused_every_read_outside_the_allowed_channels(
    stack: E2EStack, text: str, action: str
) -> None:
    _refused_without_effect(stack, "bob", text, OTHER, "only in", action)


def test_status_of_a_request_only_in_its_channel_or_for_its_participants(
    stack: E2EStack,
) -> None:
    request = stack.submit("alice", "install SYNC02 --domain contoso.com")
    try:
        _refused_without_effect(
            stack, ERIN, f"status {request.id}", LAB, "only in the channel", "status"
        )
        _refused_without_effect(
            stack, "mallory", f"status {request.id}", "C01OPS", "not allowed", "status"
        )
        for user, channel in ((ERIN, "C01OPS"), ("alice", LAB), ("bob", LAB)):
            seen = mark(stack, user)
            assert stack.slash(user, f"status {request.id}", channel=channel).status_code == 200
            trail = reply_to(stack, user, request.id, after=seen)
            assert "requested by" in trail.lower(), (user, channel, trail)
    finally:
        stack.slash("alice", f"cancel {request.id}")


def test_plan_names_accounts_only_to_approvers(stack: E2EStack) -> None:
    text = "plan SYNC01 --domain contoso.com"
    # the accounts that sign in (the approval signing key's "user" is only a label)
    accounts = [s.user for s in stack.config.secrets.values() if s.name != SIGNING_SECRET]
    seen = mark(stack, "alice")  # a requester, not an approver
    assert stack.slash("alice", text).status_code == 200
    plan = reply_to(stack, "alice", "Install the provisioning agent", after=seen)
    assert "`entra_admin`" in plan and "`domain_admin_contoso`" in plan
    for account in accounts:
        assert account not in plan, account
    seen = mark(stack, "bob")  # an approver
    assert stack.slash("bob", text).status_code == 200
    plan = reply_to(stack, "bob", "Install the provisioning agent", after=seen)
    assert "hybrid-admin@contoso.onmicrosoft.com" in plan


@pytest.fixture()
def tight(stack: E2EStack) -> Iterator[ReadLimits]:
    saved = stack.local.ctx.read_limits
    stack.local.ctx.read_limits = ReadLimits(per_user=2, window_s=30, join_s=30)
    try:
        yield stack.local.ctx.read_limits
    finally:
        stack.local.ctx.read_limits = saved
        for key in stack.store.redis.scan_iter(f"{stack.store.prefix}:read-rate:*"):
            stack.store.redis.delete(key)


def _answered(stack: E2EStack, user: str, host: str, after: int) -> Any:
    return stack.wait_for(
        lambda: next(
            (t for t in stack.ephemerals_for(user)[after:] if f"Preflight on {host}" in t), None
        ),
        what=f"{user}'s check of {host}",
    )


def test_winrm_reads_are_rate_limited_per_user(stack: E2EStack, tight: ReadLimits) -> None:
    for host in ("SYNC01", "SYNC02"):
        seen = mark(stack, ERIN)
        assert stack.slash(ERIN, f"check {host}").status_code == 200
        _answered(stack, ERIN, host, seen)
    answer = _refused_without_effect(stack, ERIN, "check SYNC03", "C01OPS", "try again", "check")
    wait = int(answer.split("try again in ")[1].split(" s")[0])
    assert 0 < wait <= tight.window_s
    _refused_without_effect(stack, ERIN, "agents", "C01OPS", "try again", "agents")
    # another user is not held back by erin's limit
    seen = mark(stack, "carol")
    assert stack.slash("carol", "check SYNC03").status_code == 200
    _answered(stack, "carol", "SYNC03", seen)


def test_a_second_check_of_a_host_joins_the_running_one(stack: E2EStack) -> None:
    host = "SLOW01"
    stack.wait_quiet()
    before = host_activity(stack)[host]
    seen = mark(stack, ERIN)
    assert stack.slash(ERIN, f"check {host}").status_code == 200
    _answered(stack, ERIN, host, seen)
    stack.wait_quiet()
    one = [b - a for a, b in zip(before, host_activity(stack)[host], strict=True)]
    assert one[0] > 0, "a check opens a WinRM session"

    before = host_activity(stack)[host]
    marks = {u: mark(stack, u) for u in ("bob", "carol")}
    assert stack.slash("bob", f"check {host}").status_code == 200
    assert stack.slash("carol", f"check {host}").status_code == 200
    reply_to(stack, "carol", "already running", after=marks["carol"])
    for user, seen in marks.items():
        _answered(stack, user, host, seen)
    stack.wait_quiet()
    both = [b - a for a, b in zip(before, host_activity(stack)[host], strict=True)]
    assert both == one, "two askers, one WinRM session"
