"""Policy rules that need a policy of their own: two approvals (N of M) with an approver user
group resolved through usergroups.users.list, and a short approval expiry. Each runs on its own
real stack (Bolt over HTTP, Redis, a Celery worker, simulated hosts, loopback Slack)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.local import payloads
from tests.e2e.harness import USERS, E2EStack, start_stack
from tests.e2e.slack_helpers import buttons, card_text, mark, reply_to, run_count, wait_card
from workers.domain.model import State

GROUP = "S01ADMINS"
DAVE = "U04DAVE"


def _start(workdir: Path, mutate: Any) -> E2EStack:
    """A stack with a tweaked policy."""
    return start_stack(workdir, mutate)


def _two_approvers(inventory: dict, policy: dict) -> None:  # type: ignore[type-arg]
    policy["users"][DAVE] = "dave"
    policy["policy"]["approvals_needed"] = 2
    policy["policy"]["approvers"] = [
        {"users": [USERS["bob"], USERS["carol"]]},
        {"groups": [GROUP]},
    ]


def _short_expiry(inventory: dict, policy: dict) -> None:  # type: ignore[type-arg]
    policy["policy"]["approval_expiry_minutes"] = 0.05  # 3 s; housekeeping sweeps every 2 s


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    stack = _start(tmp_path_factory.mktemp("nofm"), _two_approvers)
    try:
        stack.slack.usergroups[GROUP] = [DAVE]
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    stack = _start(tmp_path_factory.mktemp("expiry"), _short_expiry)
    try:
        yield stack
    finally:
        stack.stop()


def test_two_of_m_needs_two_distinct_approvers(two: E2EStack) -> None:
    request = two.submit("alice", "install SYNC01 --domain contoso.com")
    assert "0 of 2" in card_text(wait_card(two, request.id, "0 of 2"))

    seen = mark(two, "bob")
    assert two.click("bob", "approve", request.id).status_code == 200
    two.wait_for(
        lambda: len(two.store.get(request.id).approvals) == 1, what="first approval recorded"
    )
    assert two.store.get(request.id).state is State.PENDING_APPROVAL
    wait_card(two, request.id, "1 of 2")

    # the same approver again does not count twice
    assert two.click("bob", "approve", request.id).status_code == 200
    assert "already approved" in reply_to(two, "bob", request.id, after=seen)
    assert two.store.get(request.id).state is State.PENDING_APPROVAL
    assert run_count(two, "SYNC01") == 0

    assert two.click("carol", "approve", request.id).status_code == 200
    done = two.wait_state(request.id, State.SUCCEEDED, State.FAILED)
    assert done.state is State.SUCCEEDED, done.reason
    assert sorted(a.user for a in done.approvals) == sorted([USERS["bob"], USERS["carol"]])
    assert run_count(two, "SYNC01") == 1


def _host_seen(stack: E2EStack, host: str) -> dict[str, int]:
    """How much the simulated host has seen: script blocks, processes, state changes, HTTP."""
    record = stack.sim_host(host).record.to_dict()
    seen = {k: len(record[k]) for k in ("script_blocks", "command_lines", "events")}
    return {**seen, "http_requests": int(record["http_requests"])}


def _raw(stack: E2EStack, request_id: str) -> bytes:
    return bytes(stack.store.redis.get(f"{stack.settings.prefix}:req:{request_id}"))


def test_partial_approval_cannot_be_laundered_through_cancel_and_retry(two: E2EStack) -> None:
    """Issue 13, attack 1: one approval of two, the requester cancels, then retries."""
    request = two.submit("alice", "install TWIN01 --domain contoso.com")
    assert two.click("bob", "approve", request.id).status_code == 200
    two.wait_for(lambda: len(two.store.get(request.id).approvals) == 1, what="bob's approval")
    assert two.slash("alice", f"cancel {request.id}").status_code == 200
    two.wait_state(request.id, State.CANCELLED)
    two.wait_quiet()
    stored, seen = _raw(two, request.id), _host_seen(two, "TWIN01")

    after = mark(two, "alice")
    assert two.slash("alice", f"retry {request.id}").status_code == 200
    text = reply_to(two, "alice", request.id, after=after)
    assert "cancelled is final" in text and "submit a new request" in text
    time.sleep(1.0)  # time for a run, were one dispatched
    two.wait_quiet()
    assert _raw(two, request.id) == stored, "the request in Redis is unchanged"
    assert _host_seen(two, "TWIN01") == seen, "nothing ran on the host"
    assert run_count(two, "TWIN01") == 0
    assert "retried" not in [e.name for e in two.store.events(request_id=request.id)]


def test_the_worker_refuses_a_queued_request_without_its_approvals(two: E2EStack) -> None:
    """Defence in depth: a request with one approval of two that reaches the queue anyway
    (here written into Redis by hand, then dispatched) fails unrun, and the refusal is audited."""
    request = two.submit("alice", "install TWIN02 --domain contoso.com")
    assert two.click("bob", "approve", request.id).status_code == 200
    two.wait_for(lambda: len(two.store.get(request.id).approvals) == 1, what="bob's approval")
    key = f"{two.settings.prefix}:req:{request.id}"
    laundered = json.loads(two.store.redis.get(key))
    laundered["state"] = "queued"
    two.store.redis.set(key, json.dumps(laundered))
    seen = _host_seen(two, "TWIN02")

    two.local.ctx.dispatcher.run(request.id)
    failed = two.wait_state(request.id, State.FAILED, State.SUCCEEDED)
    assert failed.state is State.FAILED
    assert (failed.reason or "").startswith("refused by the worker")
    refused = [e for e in two.store.events(request_id=request.id) if e.name == "refused"]
    assert [e.data["action"] for e in refused] == ["run"]
    assert "1 of 2 approvals" in refused[0].data["reason"]
    two.wait_quiet()
    assert _host_seen(two, "TWIN02") == seen, "nothing ran on the host"
    assert run_count(two, "TWIN02") == 0


def test_a_group_member_approves_and_membership_is_cached(two: E2EStack) -> None:
    request = two.submit("bob", "install SYNC02 --domain contoso.com")
    lookups = len(two.slack.calls_for("usergroups.users.list"))

    # the group approver sees the request in App Home, with buttons
    two.slack.home_views.pop(DAVE, None)
    assert two.post(payloads.app_home_opened(DAVE)).status_code == 200
    home = two.wait_for(lambda: two.slack.home_views.get(DAVE), what="dave's App Home")
    assert request.id in json.dumps(home)
    assert '"approve"' in json.dumps(home)

    assert two.click(DAVE, "approve", request.id).status_code == 200
    two.wait_for(lambda: len(two.store.get(request.id).approvals) == 1, what="dave's approval")
    # mallory is in no group: refused, and told who can approve (the group is named)
    assert two.click("mallory", "approve", request.id).status_code == 200
    assert f"<!subteam^{GROUP}>" in reply_to(two, "mallory", f"cannot approve {request.id}")

    assert two.click("carol", "approve", request.id).status_code == 200
    done = two.wait_state(request.id, State.SUCCEEDED, State.FAILED)
    assert done.state is State.SUCCEEDED, done.reason
    assert DAVE in [a.user for a in done.approvals]
    # several lookups of the group within its cache lifetime: Slack asked at most once
    assert len(two.slack.calls_for("usergroups.users.list")) - lookups <= 1


def test_a_request_left_alone_expires(short: E2EStack) -> None:
    assert short.slash("alice", "install SYNC01 --domain contoso.com").status_code == 200
    request = short.latest_request("alice")
    expired = short.wait_state(request.id, State.EXPIRED, timeout=20)
    assert expired.state is State.EXPIRED
    final = wait_card(short, request.id, "Expired")
    assert not buttons(final), "an expired card has no buttons"

    assert short.click("bob", "approve", request.id).status_code == 200
    text = reply_to(short, "bob", request.id)
    assert "expired" in text
    assert short.store.get(request.id).state is State.EXPIRED
    assert run_count(short, "SYNC01") == 0
