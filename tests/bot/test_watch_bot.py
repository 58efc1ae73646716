"""The fleet watch on the Slack side: the `watch` grammar, its notices (what changed, since when,
the next action's buttons), who may pause and resume (approvers of the host, audited), and the
projector posting one notice per recorded change (real Redis: stream, consumer group, outbox)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot import grammar
from bot.blocks.watch import CHECK_ACTION, RESTART_ACTION, watch_notice
from bot.commands import handle
from bot.context import BotContext
from bot.projector import Projector, home_for, remember_home_viewer
from bot.render import block_texts
from workers.dispatch import CeleryDispatcher
from workers.domain.config import REPO_ROOT, load_config
from workers.domain.service import RequestService
from workers.domain.store import RequestStore
from workers.notify.items import OutboxItem, text_of
from workers.notify.outbox import Outbox
from workers.watch.detector import HostWatch, aspects_of
from workers.watch.store import WatchStore

CONFIG = load_config(REPO_ROOT / "config" / "demo")
HOSTS = sorted(CONFIG.hosts)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("watch status", grammar.Watch("status")),
        ("watch pause sync01", grammar.Watch("pause", "SYNC01")),
        ("watch resume SYNC02", grammar.Watch("resume", "SYNC02")),
    ],
)
def test_watch_grammar(text: str, expected: grammar.Watch) -> None:
    assert grammar.parse(text, HOSTS) == expected


@pytest.mark.parametrize(
    "text", ["watch", "watch stop SYNC01", "watch pause", "watch pause NOPE01", "watch status x"]
)
def test_watch_grammar_refuses(text: str) -> None:
    parsed = grammar.parse(text, HOSTS)
    assert isinstance(parsed, grammar.UsageError) and "/cloudsync watch" in parsed.message


def _actions(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (e["action_id"], e["value"])
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def test_a_stop_notice_says_since_when_and_offers_restart_and_check() -> None:
    since = 1_796_000_000.0
    text, blocks = watch_notice(
        {
            "host": "SYNC01",
            "kind": "agent_stopped",
            "old": "Running",
            "new": "Stopped",
            "since": since,
            "errors": [{"id": 1001, "at": "2026-12-01T10:00:00", "message": "boom <!channel>"}],
        }
    )
    assert "SYNC01" in text and "stopped" in text and f"<!date^{int(since)}^" in text
    assert _actions(blocks) == [(RESTART_ACTION, "SYNC01"), (CHECK_ACTION, "SYNC01")]
    shown = "\n".join(block_texts(blocks))
    assert "Next: restart" in shown and "1001" in shown and "<!channel>" not in shown


def test_a_recovery_notice_has_no_buttons_and_a_tenant_notice_names_n() -> None:
    text, blocks = watch_notice({"host": "SYNC01", "kind": "agent_started", "since": 1.0})
    assert "Recovered" in text and _actions(blocks) == []
    text, _ = watch_notice(
        {
            "host": "",
            "tenant": "contoso",
            "kind": "tenant_below",
            "healthy": 1,
            "needed": 2,
            "healthy_hosts": ["SYNC03"],
            "since": 1.0,
        }
    )
    assert "contoso" in text and "1 healthy agent," in text and "the 2 the policy" in text


@pytest.fixture()
def ctx(rclient: Any, private_redis: Any) -> BotContext:
    store = RequestStore(rclient, prefix="cs")
    dispatcher = CeleryDispatcher(private_redis.url, prefix="cs", client=rclient)
    return BotContext(
        config=CONFIG,
        redis=rclient,
        store=store,
        service=RequestService(store, CONFIG, dispatcher),
        outbox=Outbox(rclient, prefix="cs"),
        dispatcher=dispatcher,
    )


def _say(ctx: BotContext, user: str, text: str) -> str:
    parsed = grammar.parse(text, HOSTS)
    assert isinstance(parsed, grammar.Watch)
    reply = handle(ctx, parsed, user=user, channel="C01OPS")
    assert reply is not None
    return reply.text


def test_pause_and_resume_are_for_approvers_and_audited(ctx: BotContext) -> None:
    assert ":no_entry:" in _say(ctx, "U01ALICE", "watch pause SYNC01")  # a requester only
    assert "no longer reads SYNC01" in _say(ctx, "U02BOB", "watch pause SYNC01")
    assert "paused already" in _say(ctx, "U03CAROL", "watch pause SYNC01")
    assert "SYNC01" in WatchStore(ctx.redis, "cs").paused()
    assert "reads SYNC01 again" in _say(ctx, "U03CAROL", "watch resume SYNC01")
    names = [(e.name, e.actor) for e in ctx.store.events()]
    assert ("watch_paused", "U02BOB") in names and ("watch_resumed", "U03CAROL") in names
    refused = [e for e in ctx.store.events() if e.name == "refused"]
    assert refused and refused[0].data["action"] == "watch_pause"


def test_status_is_a_read_with_last_states_and_since(ctx: BotContext) -> None:
    assert "not read the fleet yet" in _say(ctx, "U01ALICE", "watch status")
    watch = WatchStore(ctx.redis, "cs")
    up = {"reachable": True, "service": "Running", "updater": "Running", "version": "1.1"}
    state = HostWatch(stable=aspects_of(up), since={"service": 0.0}, logon="contoso\\gmsa$")
    watch.save_hosts({"SYNC01": state})
    watch.pause("SYNC02", "U02BOB")
    text = _say(ctx, "U01ALICE", "watch status")
    assert "SYNC01: agent Running, 1.1 since" in text and "logon contoso\\gmsa$" in text
    assert "SYNC02: not read yet — watch paused by <@U02BOB>" in text
    assert ":no_entry:" in _say(ctx, "U09MALLORY", "watch status")  # not a reader


def test_status_lists_paused_hosts_before_the_first_read(ctx: BotContext) -> None:
    assert "no longer reads SYNC01" in _say(ctx, "U02BOB", "watch pause SYNC01")
    text = _say(ctx, "U01ALICE", "watch status")
    assert "not read the fleet yet" in text
    assert "SYNC01: not read yet — watch paused by <@U02BOB> at" in text
    assert "SYNC02" not in text  # only the paused hosts before a first read


def _posts(rclient: Any, outbox: Outbox) -> list[OutboxItem]:
    items = []
    for lane in outbox.lanes():
        for item_id in rclient.lrange(outbox.keys.lane(lane), 0, -1):
            raw = rclient.hgetall(outbox.keys.item(text_of(item_id)))
            items.append(OutboxItem.from_hash(text_of(item_id), raw))
    return [i for i in items if i.kind == "post"]


def test_the_projector_posts_each_recorded_change_once(ctx: BotContext, rclient: Any) -> None:
    projector = Projector(ctx.store, ctx.outbox, CONFIG)
    data = {
        "channel": "C01OPS",
        "key": "SYNC01:agent_stopped:1",
        "host": "SYNC01",
        "kind": "agent_stopped",
        "old": "Running",
        "new": "Stopped",
        "since": time.time(),
        "seq": 1,
    }
    ctx.store.record("", "watch_change", actor=None, data=data)
    while projector.step(block_ms=1):
        pass
    projector._project_once(next(e for e in ctx.store.events() if e.name == "watch_change"))
    (post,) = _posts(rclient, ctx.outbox)
    assert post.channel == "C01OPS" and post.key == "watch:SYNC01:agent_stopped:1"
    assert "SYNC01" in post.content["text"]


def test_app_home_shows_the_fleet_to_readers(ctx: BotContext) -> None:
    watch = WatchStore(ctx.redis, "cs")
    stopped = {"reachable": True, "service": "Stopped", "updater": "Running", "version": "1.1"}
    watch.save_hosts({"SYNC01": HostWatch(stable=aspects_of(stopped))})
    remember_home_viewer(ctx.store, "U01ALICE", [])
    shown = "\n".join(block_texts(home_for(ctx.store, CONFIG, "U01ALICE")["blocks"]))
    assert "Fleet" in shown and "SYNC01: agent Stopped" in shown
    hidden = "\n".join(block_texts(home_for(ctx.store, CONFIG, "U09MALLORY")["blocks"]))
    assert "SYNC01: agent" not in hidden
