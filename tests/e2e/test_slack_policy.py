"""Policy rules that need a policy of their own: two approvals (N of M) with an approver user
group resolved through usergroups.users.list, and a short approval expiry. Each runs on its own
real stack (Bolt over HTTP, Redis, a Celery worker, simulated hosts, loopback Slack)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.local import payloads
from tests.e2e.harness import USERS, E2EStack, make_config_dir
from tests.e2e.slack_helpers import buttons, card_text, mark, reply_to, run_count, wait_card
from workers.domain.model import State

GROUP = "S01ADMINS"
DAVE = "U04DAVE"


def _start(workdir: Path, mutate: Any) -> E2EStack:
    """A stack with a tweaked policy; CLOUDSYNC_CONFIG is put back for the shared stack."""
    saved = os.environ.get("CLOUDSYNC_CONFIG")
    try:
        return E2EStack(workdir, make_config_dir(workdir / "config", mutate)).start()
    finally:
        if saved is None:
            os.environ.pop("CLOUDSYNC_CONFIG", None)
        else:
            os.environ["CLOUDSYNC_CONFIG"] = saved


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
