"""The notifier in a real workspace's conditions: a channel the bot was not invited to, a
revoked token, and content Slack refuses. Nothing queued is lost to what a person can fix."""

from __future__ import annotations

import time
from collections.abc import Callable

from slack_sdk import WebClient

from simulator.slack_api import LoopbackSlack
from tests.support import eventually
from workers.notify import Notifier, Outbox

MakeNotifier = Callable[..., Notifier]


def _texts(slack: LoopbackSlack, channel: str) -> list[str | None]:
    return [m.text for m in slack.messages(channel)]


def test_not_in_channel_waits_and_posts_after_the_invite(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    outbox.post("CNEW", text="card", key="r1:card")
    outbox.update("r1:card", text="card v2")
    outbox.post("C1", text="elsewhere")
    notifier = make_notifier(blocked_retry_s=0.2)
    assert not notifier.drain(0.8)  # the CNEW lane waits for a person
    assert _texts(slack, "C1") == ["elsewhere"]  # other lanes are not held up
    assert outbox.dead() == [] and notifier.pending() == 2
    refused = slack.calls_for("chat.postMessage")
    assert {c.error for c in refused if c.channel == "CNEW"} == {"not_in_channel"}
    assert 2 <= len([c for c in refused if c.channel == "CNEW"]) <= 6  # slowly retried
    slack.invite("CNEW")
    assert notifier.drain(5)
    assert _texts(slack, "CNEW") == ["card v2"]
    assert outbox.dead() == []


def test_revoked_token_keeps_the_outbox(rclient, slack: LoopbackSlack) -> None:  # type: ignore[no-untyped-def]
    slack.revoke("xoxb-revoked")
    outbox = Outbox(rclient, prefix="t")
    outbox.post("C1", text="waits for a good token")
    revoked = Notifier(
        rclient,
        lambda: WebClient(token="xoxb-revoked", base_url=slack.api_url, timeout=5),
        prefix="t",
        blocked_retry_s=0.2,
        poll_interval_s=0.01,
    )
    try:
        assert not revoked.drain(0.5)
    finally:
        revoked.close()
    assert {c.error for c in slack.calls} == {"token_revoked"}
    assert outbox.depth() == 1 and outbox.dead() == []
    fixed = Notifier(
        rclient,
        lambda: WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5),
        prefix="t",
        poll_interval_s=0.01,
    )
    try:
        eventually(lambda: fixed.drain(0.5), timeout=5, what="delivery with the new token")
    finally:
        fixed.close()
    assert _texts(slack, "C1") == ["waits for a good token"]


def test_refused_blocks_are_sent_as_plain_text(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    too_many = [{"type": "divider"}] * 51
    outbox.post("C1", text="the card's words", blocks=too_many)
    outbox.post("C1", text="z" * 50_000)
    started = time.monotonic()
    assert make_notifier().drain(10)
    assert time.monotonic() - started < 5
    messages = slack.messages("C1")
    assert messages[0].text == "the card's words"
    assert messages[0].blocks is None
    assert len(messages[1].text or "") == 3000
    assert outbox.dead() == []


def test_every_edit_arrives_under_the_chat_update_tier(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    """chat.update is Tier 3: beyond it Slack answers 429 with Retry-After; the notifier pauses
    the lane for that long and loses nothing (the minute compressed to 1 s here)."""
    slack.enforce_tiers({"chat.update": 2}, window_s=1.0)
    for n in range(4):
        outbox.post("C1", text=f"card {n}", key=f"k{n}")
        outbox.update(f"k{n}", text=f"card {n} v2")
    assert make_notifier().drain(20)
    assert [m.text for m in slack.messages("C1")] == [f"card {n} v2" for n in range(4)]
    limited = [c for c in slack.calls_for("chat.update") if c.status == 429]
    assert limited, "the tier was reached"
    assert outbox.dead() == []
