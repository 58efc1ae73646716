"""The bot in a real workspace's conditions, through the whole stack: a policy channel the bot
was not invited to, and refusals of App Home clicks (which carry no response_url)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.e2e.harness import CHANNEL, USERS, E2EStack, make_config_dir
from tests.e2e.slack_helpers import card

NEW = "C05NEW"  # a policy channel nobody has invited the bot to yet


def _with_a_new_channel(inventory: dict, policy: dict) -> None:  # type: ignore[type-arg]
    policy["channels"][NEW] = "new-ops"
    policy["policy"]["channels"] = [CHANNEL, NEW]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    workdir = tmp_path_factory.mktemp("workspace")
    saved = os.environ.get("CLOUDSYNC_CONFIG")
    try:
        stack = E2EStack(
            workdir,
            make_config_dir(workdir / "config", _with_a_new_channel),
            slack_member_of={CHANNEL},
        ).start()
    finally:
        if saved is None:
            os.environ.pop("CLOUDSYNC_CONFIG", None)
        else:
            os.environ["CLOUDSYNC_CONFIG"] = saved
    try:
        yield stack
    finally:
        stack.stop()


def test_not_in_channel_tells_the_requester_and_the_card_follows_the_invite(
    fresh: E2EStack,
) -> None:
    e2e = fresh
    CHANNEL = NEW
    try:
        started = time.monotonic()
        reply = e2e.slash("alice", "install SYNC01 --domain contoso.com", channel=CHANNEL)
        assert reply.status_code == 200
        request = e2e.latest_request("alice")
        told = e2e.wait_for(
            lambda: [t for t in e2e.ephemerals_for("alice") if request.id in t and "/invite" in t],
            timeout=10,
            what="the requester told about the missing invitation",
        )
        assert time.monotonic() - started < 3.0
        assert "/invite @cloudsync" in told[-1] and f"<#{CHANNEL}>" in told[-1]
        events = e2e.wait_for(
            lambda: [
                e
                for e in e2e.store.events(request_id=request.id)
                if e.name == "channel_unreachable"
            ],
            what="the audit names the unreachable channel",
        )
        assert events[0].data["error"] == "not_in_channel"
        assert events[0].data["channel"] == CHANNEL
        e2e.wait_preflight(request.id)
        e2e.wait_for(
            lambda: any(
                c.method == "chat.postMessage" and c.error == "not_in_channel"
                for c in list(e2e.slack.calls)
            ),
            what="the card refused while the bot is not in the channel",
        )
        assert not [m for m in e2e.slack.messages(CHANNEL) if request.id in (m.text or "")]
    finally:
        e2e.slack.invite(CHANNEL)
    posted = card(
        e2e, request.id, CHANNEL
    )  # nothing lost: the queued card is posted after the invite
    assert posted.blocks
    assert e2e.local.ctx.outbox.dead() == [] or all(
        d["item"]["channel"] != CHANNEL for d in e2e.local.ctx.outbox.dead()
    )
    e2e.submit_deny("bob", request.id, "a test of the invitation")  # leave the stack tidy


def test_a_refused_app_home_click_shows_the_reason_in_home(e2e: E2EStack) -> None:
    request = e2e.submit("alice", "install SYNC01 --domain contoso.com")
    started = time.monotonic()
    response = e2e.click_home("alice", "approve", request.id)  # the requester cannot approve
    assert response.status_code == 200
    view = e2e.wait_for(
        lambda: (
            (v := e2e.slack.home_views.get(USERS["alice"]))
            and ":no_entry:" in str(v.get("blocks", [])[:1])
            and v
        ),
        timeout=3,
        what="the refusal at the top of alice's Home",
    )
    assert time.monotonic() - started < 3.0
    assert "approve" in str(view["blocks"][0]).lower()
    assert not [c for c in e2e.slack.calls if c.method == "response_url" and c.status == 404]
    e2e.submit_deny("bob", request.id, "a test of Home refusals")
    assert e2e.click_home("bob", "cancel", "REQ-NOPE").status_code == 200
    e2e.wait_for(
        lambda: "No such request" in str(e2e.slack.home_views.get(USERS["bob"], {})),
        timeout=3,
        what="bob's Home says why",
    )


def test_a_bot_removed_from_a_channel_is_noticed_by_the_next_command(fresh: E2EStack) -> None:
    e2e = fresh
    request = e2e.submit("alice", "install SYNC02 --domain contoso.com")  # membership cached
    card(e2e, request.id)
    told_before = [t for t in e2e.ephemerals_for("alice") if "/invite" in t]
    assert not [t for t in told_before if request.id in t]
    e2e.slack.kick(CHANNEL)
    try:
        assert e2e.slash("alice", "check SYNC03").status_code == 200
        e2e.wait_for(
            lambda: e2e.local.ctx.outbox.blocked(CHANNEL),
            timeout=30,
            what="the notifier finding the channel refused",
        )
        assert e2e.slash("alice", "check SYNC01").status_code == 200
        e2e.wait_for(
            lambda: (
                len([t for t in e2e.ephemerals_for("alice") if "/invite" in t]) > len(told_before)
                and "SYNC01" in [t for t in e2e.ephemerals_for("alice") if "/invite" in t][-1]
            ),
            timeout=10,
            what="the next command told about the missing invitation",
        )
    finally:
        e2e.slack.invite(CHANNEL)
    e2e.wait_for(lambda: not e2e.local.ctx.outbox.blocked(CHANNEL), what="the lane flowing again")
    e2e.submit_deny("bob", request.id, "a test of a removed bot")


def test_a_refused_command_does_not_ask_for_an_invitation(fresh: E2EStack) -> None:
    """Outside the policy channels the request is refused: inviting the bot would not help."""
    e2e = fresh
    before = len(e2e.ephemerals_for("alice"))
    assert e2e.slash("alice", "install SYNC01 --domain contoso.com", channel="C99RANDOM").ok
    told = e2e.wait_for(
        lambda: e2e.ephemerals_for("alice")[before:],
        timeout=10,
        what="the refusal",
    )
    assert ":no_entry:" in told[-1]
    assert "/invite" not in " ".join(told)
    assert not [c for c in e2e.slack.calls_for("conversations.info") if c.channel == "C99RANDOM"]
