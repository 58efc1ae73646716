"""Outbox + Notifier against a real redis-server and the real loopback Slack server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest
import redis

from simulator.slack_api import LoopbackSlack
from tests.support import eventually
from workers.notify import Notifier, Outbox

MakeNotifier = Callable[..., Notifier]


def _texts(slack: LoopbackSlack, channel: str) -> list[str | None]:
    return [m.text for m in slack.messages(channel)]


def test_order_per_lane_and_threads(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    for ch in ("C1", "C2"):
        outbox.post(ch, text=f"{ch} card", key=f"{ch}:card")
        for i in range(5):
            outbox.post(ch, text=f"{ch} step {i}", thread_key=f"{ch}:card")
        outbox.post(ch, text=f"{ch} done")
    outbox.ephemeral("C1", "U02BOB", text="only you")
    assert outbox.depth() == 15
    notifier = make_notifier()
    assert notifier.drain(10)
    assert notifier.pending() == 0
    for ch in ("C1", "C2"):
        expected = [f"{ch} card"] + [f"{ch} step {i}" for i in range(5)] + [f"{ch} done"]
        assert _texts(slack, ch) == expected
        parent = outbox.resolve(f"{ch}:card")
        assert parent is not None and parent[0] == ch
        replies = slack.thread(ch, parent[1])[1:]
        assert [m.text for m in replies] == [f"{ch} step {i}" for i in range(5)]
    assert slack.ephemerals[0].user == "U02BOB"
    assert notifier.metrics.count("sent") == 15


def test_updates_coalesce_and_newest_wins(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    outbox.post("C1", text="v0", key="R1:card")
    ids = {outbox.update("R1:card", text=f"v{i}") for i in range(1, 6)}
    assert len(ids) == 1  # merged into one queued item
    outbox.post("C1", text="after")
    notifier = make_notifier()
    assert notifier.drain(10)
    updates = slack.calls_for("chat.update")
    assert [c.args["text"] for c in updates] == ["v5"]
    assert _texts(slack, "C1") == ["v5", "after"]


def test_update_interval_spaces_edits(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    notifier = make_notifier(min_update_interval_s=0.3)
    outbox.post("C1", text="v0", key="R1:card")
    outbox.update("R1:card", text="v1")
    assert notifier.drain(10)
    outbox.update("R1:card", text="v2")
    outbox.update("R1:card", text="v3")
    assert notifier.drain(10)
    updates = slack.calls_for("chat.update")
    assert [c.args["text"] for c in updates] == ["v1", "v3"]
    assert updates[1].at - updates[0].at >= 0.25  # the sender waited the interval
    assert slack.messages("C1")[0].text == "v3"


def test_rate_limited_then_recovery(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    slack.fail(method="chat.postMessage", status=429, retry_after=1, count=2)
    for i in range(6):
        outbox.post("C1", text=f"m{i}")
        outbox.post("C2", text=f"n{i}")
    notifier = make_notifier()
    assert notifier.drain(10)
    assert _texts(slack, "C1") == [f"m{i}" for i in range(6)]
    assert _texts(slack, "C2") == [f"n{i}" for i in range(6)]
    assert notifier.metrics.count("retried", "ratelimited") == 2
    assert len([c for c in slack.calls if c.status == 429]) == 2


def test_server_errors_and_unreachable_lose_nothing(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    notifier = make_notifier()
    slack.fail_for(0.5, status=503)
    for i in range(4):
        outbox.post("C1", text=f"a{i}", key=f"a{i}")
    assert notifier.drain(10)
    slack.unreachable(0.5)
    for i in range(4):
        outbox.update(f"a{i}", text=f"a{i}!")
        outbox.post("C1", text=f"b{i}")
    assert notifier.drain(10)
    assert _texts(slack, "C1") == [f"a{i}!" for i in range(4)] + [f"b{i}" for i in range(4)]
    assert notifier.metrics.count("retried", "server_error") >= 1
    assert notifier.metrics.count("retried", "connection_error") >= 1
    assert notifier.metrics.count("dead") == 0


def test_paced_under_enforced_rate(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    rate = 8.0
    slack.enforce_rate(per_channel_per_s=rate, burst=2)
    channels = ["C1", "C2", "C3"]
    for i in range(10):
        for ch in channels:
            outbox.post(ch, text=f"{ch}-{i}")
    notifier = make_notifier(per_channel_rate=rate, post_burst=1)
    assert notifier.drain(15)
    for ch in channels:
        assert _texts(slack, ch) == [f"{ch}-{i}" for i in range(10)]
        ok = [c.at for c in slack.calls_for("chat.postMessage") if c.channel == ch and c.ok]
        assert (len(ok) - 1) / (ok[-1] - ok[0]) <= rate * 1.1
    assert not [c for c in slack.calls if c.status == 429]


def test_two_notifiers_keep_order_and_send_once(
    rclient: redis.Redis, slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    channels = [f"C{n}" for n in range(4)]
    for i in range(15):
        for ch in channels:
            outbox.post(ch, text=f"{ch}-{i}")
    stop = threading.Event()
    notifiers = [make_notifier(items_per_turn=2), make_notifier(items_per_turn=2)]
    threads = [threading.Thread(target=n.run_forever, args=(stop,)) for n in notifiers]
    for t in threads:
        t.start()
    try:
        eventually(lambda: not outbox.depth(), timeout=15, what="two notifiers to drain the outbox")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert outbox.depth() == 0
    for ch in channels:
        assert _texts(slack, ch) == [f"{ch}-{i}" for i in range(15)]
    sent = [n.metrics.count("sent") for n in notifiers]
    assert sum(sent) == 60


def test_dead_letter_then_continue(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    slack.missing_channels.add("CGONE")
    outbox.post("CGONE", text="secret-free text", key="gone:card")
    outbox.update("gone:card", text="edit")
    outbox.post("C1", text="fine")
    notifier = make_notifier()
    assert notifier.drain(10)
    dead = outbox.dead()
    assert [d["error"] for d in dead] == ["channel_not_found", "message_not_posted"]
    assert dead[0]["item"]["channel"] == "CGONE"
    assert _texts(slack, "C1") == ["fine"]
    assert notifier.metrics.count("dead") == 2
    assert len(slack.calls_for("chat.postMessage")) == 2  # the dead one was tried once


def test_home_publish_coalesces(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    for i in range(3):
        outbox.publish_home("U1", {"type": "home", "blocks": [], "private_metadata": str(i)})
    assert make_notifier().drain(10)
    assert len(slack.calls_for("views.publish")) == 1
    assert slack.home_views["U1"]["private_metadata"] == "2"


def test_lease_of_a_dead_notifier_expires(
    rclient: redis.Redis, slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    outbox.post("C1", text="one")
    outbox.post("C2", text="two")
    rclient.set("t:outbox:lease:C1", "crashed-notifier", px=300)  # held by a process that died
    notifier = make_notifier()
    assert notifier.drain(10)
    assert _texts(slack, "C1") == ["one"] and _texts(slack, "C2") == ["two"]
    first = {c.channel: c.at for c in slack.calls}
    assert first["C2"] <= first["C1"]  # the free lane did not wait for the held one


def test_logs_carry_no_message_text(
    slack: LoopbackSlack,
    outbox: Outbox,
    make_notifier: MakeNotifier,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="workers.notify")
    slack.missing_channels.add("CGONE")
    slack.fail(method="chat.postMessage", status=503, count=1)
    outbox.post("C1", text="host-zz-text", key="k1")
    outbox.update("k1", text="host-zz-edit", blocks=[{"type": "divider", "block_id": "zz-b"}])
    outbox.post("CGONE", text="host-zz-dead")
    assert make_notifier().drain(10)
    assert caplog.records  # it did log: retries, sends, the dead letter
    assert "zz" not in caplog.text


def test_an_edit_in_flight_is_never_merged_into(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    """The notifier claims an edit before sending it: content enqueued while Slack answers
    gets an item of its own (sent next), instead of vanishing into an item being removed."""
    outbox.post("C1", text="v0", key="R1:card")
    first = outbox.update("R1:card", text="v1")
    later: list[str] = []

    def while_in_flight(call: object, _message: object) -> None:
        if getattr(call, "method", "") == "chat.update" and not later:
            later.append(outbox.update("R1:card", text="v2"))

    slack.subscribe(while_in_flight)
    assert make_notifier().drain(10)
    assert later and later[0] != first  # not merged into the claimed item
    assert [c.args["text"] for c in slack.calls_for("chat.update")] == ["v1", "v2"]
    assert _texts(slack, "C1") == ["v2"]


def test_a_failed_edit_superseded_by_a_newer_one_is_dropped(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    """A claimed edit whose send failed is not retried once a newer edit of the same message
    waits behind it: the card gets the latest state, never a queue of stale edits."""
    outbox.post("C1", text="v0", key="R1:card")
    first = outbox.update("R1:card", text="v1")
    slack.fail(method="chat.update", status=503, count=1)
    newer: list[str] = []

    def on_call(call: object, _message: object) -> None:
        if getattr(call, "method", "") == "chat.update" and not newer:
            newer.append(outbox.update("R1:card", text="v2"))
            newer.append(outbox.update("R1:card", text="v3"))  # merged into v2's queued item

    slack.subscribe(on_call)
    assert make_notifier().drain(10)
    sent = [c.args["text"] for c in slack.calls_for("chat.update")]
    assert sent == ["v1", "v3"]  # v1 failed (503); v3 went instead of a retried v1
    assert newer[0] == newer[1] != first  # queued behind the claimed v1, not merged into it
    assert _texts(slack, "C1") == ["v3"]


def test_card_edits_do_not_wait_behind_paced_posts(
    slack: LoopbackSlack, outbox: Outbox, make_notifier: MakeNotifier
) -> None:
    """Thread replies are paced per channel; the card's edits have their own lane."""
    outbox.post("C1", text="card", key="R1:card")
    notifier = make_notifier(per_channel_rate=2.0, post_burst=1)
    notifier.drain(5)
    for i in range(6):
        outbox.post("C1", text=f"reply {i}", thread_key="R1:card")
    outbox.update("R1:card", text="latest")
    stop = threading.Event()
    serving = threading.Thread(target=notifier.run_forever, args=(stop,), daemon=True)
    serving.start()
    try:
        eventually(lambda: slack.calls_for("chat.update"), timeout=5, what="the edit")
        replies = [c for c in slack.calls_for("chat.postMessage") if c.thread_ts is not None]
        assert len(replies) < 6  # the edit went while replies were still queued
    finally:
        stop.set()
        serving.join(10)
    assert notifier.drain(10)
