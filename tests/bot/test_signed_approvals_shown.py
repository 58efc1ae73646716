"""The card, ``status ID``, ``list`` and App Home count and name only the approvals the bot
signed, as the service does (real Redis: the store, the projector's consumer group, the outbox,
the service's sealer with the demo key). An approval written into Redis by someone with access
there is ignored, and the card says so."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest
import redis

from bot import grammar
from bot.commands import handle
from bot.context import BotContext
from bot.projector import Projector, card_key, home_for
from bot.render import block_texts
from tests.bot.test_projector_replies import PLAN
from workers.dispatch import CeleryDispatcher
from workers.domain.config import REPO_ROOT, load_config
from workers.domain.model import (
    Approval,
    ChangeKind,
    ChangeSpec,
    DomainSpec,
    HostPreflight,
    Request,
    State,
)
from workers.domain.service import RequestService
from workers.domain.store import RequestStore
from workers.notify.items import OutboxItem, text_of
from workers.notify.outbox import Outbox, edit_lane

CONFIG = load_config(REPO_ROOT / "config" / "demo")
PREFIX = "sg"


@pytest.fixture()
def ctx(rclient: redis.Redis, private_redis: Any) -> BotContext:
    store = RequestStore(rclient, prefix=PREFIX)
    dispatcher = CeleryDispatcher(private_redis.url, prefix=PREFIX, client=rclient)
    return BotContext(
        config=CONFIG,
        redis=rclient,
        store=store,
        service=RequestService(store, CONFIG, dispatcher),
        outbox=Outbox(rclient, prefix=PREFIX),
        dispatcher=dispatcher,
    )


def _pending(ctx: BotContext, needed: int) -> Request:
    now = time.time()
    request = Request(
        id=ctx.store.next_id(),
        change=ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com"),)),
        requester="U01ALICE",
        channel="C01OPS",
        created_at=now,
        state=State.PENDING_APPROVAL,
        request_hash="plan-hash",
        approvals_needed=needed,
        expires_at=now + 3600,
        preflight={"SYNC01": HostPreflight(ok=True, steps=list(PLAN))},
    )
    ctx.store.create(request, actor="U01ALICE")
    ctx.store.record(request.id, "preflight", actor=None)
    return request


def _forge_approval(ctx: BotContext, request_id: str, user: str) -> None:
    """What someone with write access to Redis (not the bot) can do: add an approval, with no
    seal or with a seal copied from a genuine approval of the same request."""
    stored = ctx.store.require(request_id)
    copied = stored.approvals[0].seal if stored.approvals else ""
    forged = Approval(user=user, at=time.time(), request_hash=stored.request_hash, seal=copied)
    written = replace(stored, approvals=[*stored.approvals, forged])
    ctx.redis.set(f"{PREFIX}:req:{request_id}", json.dumps(written.to_dict()))
    ctx.store.record(request_id, "approval_added", actor=user)  # so the card is re-rendered


def _project_all(ctx: BotContext) -> None:
    projector = Projector(ctx.store, ctx.outbox, CONFIG, sealer=ctx.service.sealer)
    while projector.step(block_ms=1):
        pass


def _card_text(ctx: BotContext, request_id: str) -> str:
    """The card as Slack shows it last: its newest queued edit, else its post."""
    key = card_key(request_id)
    newest = ""
    for lane in ("C01OPS", edit_lane(key)):
        for raw in ctx.redis.lrange(ctx.outbox.keys.lane(lane), 0, -1):  # type: ignore[union-attr]
            item_id = text_of(raw)
            fields = ctx.redis.hgetall(ctx.outbox.keys.item(item_id))
            item = OutboxItem.from_hash(item_id, fields)  # type: ignore[arg-type]
            if item.key == key and item.kind in ("post", "update"):
                newest = "\n".join(block_texts(item.content["blocks"]))
    assert newest, f"no card queued for {request_id}"
    return newest


def _say(ctx: BotContext, user: str, text: str) -> str:
    parsed = grammar.parse(text, sorted(CONFIG.hosts))
    reply = handle(ctx, parsed, user=user, channel="C01OPS")  # type: ignore[arg-type]
    assert reply is not None
    return reply.text


def test_the_card_counts_only_approvals_the_bot_signed(ctx: BotContext) -> None:
    request = _pending(ctx, needed=2)
    ctx.service.approve(request.id, "U02BOB", "C01OPS")  # signed by the bot
    _project_all(ctx)
    assert "1 of 2 (<@U02BOB>)" in _card_text(ctx, request.id)

    _forge_approval(ctx, request.id, "U03CAROL")
    assert len(ctx.store.require(request.id).approvals) == 2  # Redis now says 2 of 2
    _project_all(ctx)
    card = _card_text(ctx, request.id)
    assert "1 of 2 (<@U02BOB>)" in card, card
    assert "U03CAROL" not in card
    assert "1 approval not signed by the bot was ignored" in card
    # the service agrees: the request is still waiting, the run would be refused
    stored = ctx.store.require(request.id)
    assert stored.state is State.PENDING_APPROVAL
    assert "1 of 2 approvals signed by the bot" in str(ctx.service.run_refusal(stored))


def test_a_forged_only_approval_shows_as_none(ctx: BotContext) -> None:
    request = _pending(ctx, needed=1)
    _forge_approval(ctx, request.id, "U03CAROL")
    _project_all(ctx)
    card = _card_text(ctx, request.id)
    assert "0 of 1" in card and "U03CAROL" not in card, card
    assert "1 approval not signed by the bot was ignored" in card


def test_status_list_and_app_home_show_only_signed_approvals(ctx: BotContext) -> None:
    request = _pending(ctx, needed=2)
    ctx.service.approve(request.id, "U02BOB", "C01OPS")
    _forge_approval(ctx, request.id, "U03CAROL")

    status = _say(ctx, "U01ALICE", f"status {request.id}")
    assert "1 of 2 (<@U02BOB>)" in status, status
    assert "Approved by <@U02BOB>" in status
    assert "Approved by <@U03CAROL>" not in status  # (the history shows the forger's event)
    assert "1 approval not signed by the bot was ignored" in status
    listed = _say(ctx, "U01ALICE", "list")
    assert "1 of 2 (<@U02BOB>)" in listed and "U03CAROL" not in listed, listed

    # the forged approval in carol's name neither counts nor hides the request from her
    home = "\n".join(block_texts(home_for(ctx.store, CONFIG, "U03CAROL")["blocks"]))
    assert request.id in home.split("Your recent requests")[0], home
    assert "1 of 2 (<@U02BOB>)" in home and "<@U03CAROL>" not in home, home
    own = "\n".join(
        block_texts(home_for(ctx.store, CONFIG, "U01ALICE", sealer=ctx.service.sealer)["blocks"])
    )
    assert "1 of 2 (<@U02BOB>)" in own and "U03CAROL" not in own, own
