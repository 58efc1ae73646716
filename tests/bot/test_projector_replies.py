"""Which thread replies a request gets (real Redis: the store's event stream, the projector's
consumer group and the outbox): a single-host request one per step; a multi-host one, whose card
is its live status, one per failure and one per host when it is done, even when the projector
reads a host's events only after all its steps were saved."""

from __future__ import annotations

import time

import redis

from bot.projector import Projector
from workers.domain.config import REPO_ROOT, load_config
from workers.domain.model import (
    ChangeKind,
    ChangeSpec,
    DomainSpec,
    HostPreflight,
    Request,
    State,
    StepResult,
    StepStatus,
)
from workers.domain.store import RequestStore
from workers.notify.items import OutboxItem, text_of
from workers.notify.outbox import Outbox

PLAN = [("stage", "Stage installer"), ("install", "Install")]


def _setup(rclient: redis.Redis, hosts: tuple[str, ...]) -> tuple[RequestStore, Outbox, Request]:
    store = RequestStore(rclient, prefix="pr")
    outbox = Outbox(rclient, prefix="pr")
    change = ChangeSpec(ChangeKind.INSTALL, hosts, (DomainSpec("contoso.com"),))
    request = Request(
        id=store.next_id(),
        change=change,
        requester="U01ALICE",
        channel="C01OPS",
        created_at=time.time(),
        state=State.RUNNING,
        request_hash="h",
        preflight={h: HostPreflight(ok=True, steps=list(PLAN)) for h in hosts},
    )
    store.create(request, actor="U01ALICE")
    store.record(request.id, "preflight", actor=None)
    return store, outbox, request


def _save(store: RequestStore, request: Request, host: str, *statuses: StepStatus) -> None:
    now = time.time()
    for n, ((step_id, title), status) in enumerate(zip(PLAN, statuses, strict=False)):
        store.save_step(
            request.id,
            StepResult(
                host=host,
                step_id=step_id,
                title=title,
                status=status,
                started_at=now + n,
                finished_at=now + n + 0.5,
                error="exit 1603" if status is StepStatus.FAILED else "",
                hint="Read the MSI log" if status is StepStatus.FAILED else "",
            ),
        )


def _replies(rclient: redis.Redis, outbox: Outbox) -> list[str]:
    out = []
    for raw in rclient.lrange(outbox.keys.lane("C01OPS"), 0, -1):  # type: ignore[union-attr]
        item_id = text_of(raw)
        item = OutboxItem.from_hash(item_id, rclient.hgetall(outbox.keys.item(item_id)))  # type: ignore[arg-type]
        if item.kind == "post" and item.thread_key:
            out.append(str(item.content["text"]))
    return out


def test_multi_host_replies_per_host_and_per_failure(rclient: redis.Redis) -> None:
    store, outbox, request = _setup(rclient, ("HOSTA", "HOSTB", "HOSTC"))
    _save(store, request, "HOSTA", StepStatus.DONE, StepStatus.DONE)
    _save(store, request, "HOSTB", StepStatus.DONE, StepStatus.FAILED)
    _save(store, request, "HOSTC", StepStatus.DONE)  # still running its second step
    projector = Projector(store, outbox, load_config(REPO_ROOT / "config" / "demo"))
    while projector.step(block_ms=1):
        pass
    replies = _replies(rclient, outbox)
    assert len(replies) == 2, replies  # no reply per routine step
    assert any("HOSTA" in r and "2 done" in r for r in replies)  # once, though read late
    assert any("HOSTB" in r and "failed" in r and "exit 1603" in r for r in replies)
    assert not any("HOSTC" in r for r in replies)


def test_a_single_host_request_keeps_a_reply_per_step(rclient: redis.Redis) -> None:
    store, outbox, request = _setup(rclient, ("HOSTA",))
    _save(store, request, "HOSTA", StepStatus.DONE, StepStatus.DONE)
    projector = Projector(store, outbox, load_config(REPO_ROOT / "config" / "demo"))
    while projector.step(block_ms=1):
        pass
    assert len(_replies(rclient, outbox)) == 2
