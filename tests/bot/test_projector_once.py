"""The projector posts each reply once (real Redis: the store's event stream, the consumer
group, the outbox): a run delivered again in the same attempt adds no reply, a projection that
fails writes neither its ``projected:`` marker nor its items, and an event projected again after
a failover lost both enqueues the same items under the same uids (what the notifier's journal
recognises). The joiners of a read are taken in the same transaction as its answers."""

from __future__ import annotations

import json

import redis

from bot import reads
from bot.projector import Projector
from tests.bot.test_projector_replies import _replies, _save, _setup
from workers.domain.config import REPO_ROOT, load_config
from workers.domain.model import StepStatus
from workers.domain.store import Event, RequestStore
from workers.notify.items import text_of
from workers.notify.outbox import Outbox

CONFIG = load_config(REPO_ROOT / "config" / "demo")
LIMITS = reads.ReadLimits(per_user=6, window_s=60, join_s=60)


def _project_all(store: RequestStore, outbox: Outbox) -> Projector:
    projector = Projector(store, outbox, CONFIG)
    while projector.step(block_ms=1):
        pass
    return projector


def _post_uids(rclient: redis.Redis, outbox: Outbox) -> list[str]:
    """The uids of the queued posts (edits are sent again harmlessly, their uids are random)."""
    out = []
    for lane in outbox.lanes():
        for raw in rclient.lrange(outbox.keys.lane(lane), 0, -1):  # type: ignore[union-attr]
            meta = json.loads(text_of(rclient.hget(outbox.keys.item(text_of(raw)), "meta")))
            if meta["kind"] == "post":
                out.append(meta["uid"])
    return out


def test_a_run_delivered_again_adds_no_host_reply(rclient: redis.Redis) -> None:
    store, outbox, request = _setup(rclient, ("HOSTA", "HOSTB"))
    _save(store, request, "HOSTA", StepStatus.DONE, StepStatus.DONE)
    _project_all(store, outbox)
    assert len(_replies(rclient, outbox)) == 1
    # the run's task delivered again: it resumes and records HOSTA's checked steps again
    _save(store, request, "HOSTA", StepStatus.DONE, StepStatus.SKIPPED)
    _save(store, request, "HOSTB", StepStatus.DONE, StepStatus.DONE)
    _project_all(store, outbox)
    replies = _replies(rclient, outbox)
    assert len(replies) == 2, replies
    assert sum("HOSTA" in r for r in replies) == 1


def test_a_single_host_step_reply_once_per_attempt(rclient: redis.Redis) -> None:
    store, outbox, request = _setup(rclient, ("HOSTA",))
    _save(store, request, "HOSTA", StepStatus.DONE, StepStatus.DONE)
    _project_all(store, outbox)
    _save(store, request, "HOSTA", StepStatus.DONE, StepStatus.DONE)  # delivered again
    _project_all(store, outbox)
    assert len(_replies(rclient, outbox)) == 2
    store.record(request.id, "retried", actor="U01ALICE")  # a new attempt is reported anew
    _save(store, request, "HOSTA", StepStatus.DONE, StepStatus.DONE)
    _project_all(store, outbox)
    assert len(_replies(rclient, outbox)) == 4


class _FailsAfterEnqueueing(Projector):
    def project(self, event: Event) -> None:
        super().project(event)
        if event.name == "step_finished":
            raise RuntimeError("the projector died after enqueueing")


def test_a_failed_projection_writes_neither_marker_nor_items(rclient: redis.Redis) -> None:
    store, outbox, request = _setup(rclient, ("HOSTA",))
    _save(store, request, "HOSTA", StepStatus.DONE)
    failing = _FailsAfterEnqueueing(store, outbox, CONFIG)
    try:
        failing.step(block_ms=1)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the fault did not fire")
    projected = rclient.keys(f"{store.prefix}:projected:*")
    assert len(projected) == 2  # requested and preflight, the events before the failing one
    assert _replies(rclient, outbox) == []  # and no reply without its marker
    _project_all(store, outbox)  # the event is still pending: projected now, once
    assert len(_replies(rclient, outbox)) == 1
    assert len(rclient.keys(f"{store.prefix}:projected:*")) == 3


def test_an_event_projected_again_enqueues_the_same_uids(rclient: redis.Redis) -> None:
    store, outbox, request = _setup(rclient, ("HOSTA", "HOSTB"))
    _save(store, request, "HOSTA", StepStatus.DONE, StepStatus.DONE)
    _save(store, request, "HOSTB", StepStatus.DONE, StepStatus.FAILED)
    _project_all(store, outbox)
    first = _post_uids(rclient, outbox)
    assert f"card:{request.id}" in first
    assert sum(u.startswith(f"reply:{request.id}:") for u in first) == 2
    # a failover lost every projection write (markers and items together) and the XACKs
    for pattern in ("outbox:*", "projected:*", "replied:*", "card-enqueued:*"):
        for key in rclient.keys(f"{store.prefix}:{pattern}"):
            rclient.delete(key)
    rclient.xgroup_destroy(store.events_key, "projector")
    _project_all(store, outbox)
    assert _post_uids(rclient, outbox) == first


class _FailsAfterAnswering(Projector):
    def project(self, event: Event) -> None:
        super().project(event)
        if event.name == "check_result":
            raise redis.ConnectionError("the primary went away before the EXEC")


def _check_answered(store: RequestStore) -> None:
    data = {"channel": "C01OPS", "user": "U03CAROL", "host": "SYNC01", "preflight": None}
    store.record("", "check_result", actor=None, data=data)


def _told(rclient: redis.Redis, outbox: Outbox, channel: str) -> list[str]:
    """The users an ephemeral is queued for in ``channel``."""
    out = []
    for raw in rclient.lrange(outbox.keys.lane(channel), 0, -1):  # type: ignore[union-attr]
        meta = json.loads(text_of(rclient.hget(outbox.keys.item(text_of(raw)), "meta")))
        if meta["kind"] == "ephemeral":
            out.append(meta["user"])
    return out


def test_a_failed_projection_keeps_the_waiters_of_the_read_it_answers(
    rclient: redis.Redis,
) -> None:
    store, outbox = RequestStore(rclient, prefix="pw"), Outbox(rclient, prefix="pw")
    target = reads.check_target("SYNC01")
    assert reads.lead_or_join(store, LIMITS, target, "C01OPS", "U03CAROL")
    assert not reads.lead_or_join(store, LIMITS, target, "C02LAB", "U02BOB")  # joined
    _check_answered(store)
    waiters, inflight = reads.waiter_keys(store, target)
    failing = _FailsAfterAnswering(store, outbox, CONFIG)
    try:
        failing.step(block_ms=1)
    except redis.ConnectionError:
        pass
    else:
        raise AssertionError("the fault did not fire")
    assert rclient.lrange(waiters, 0, -1) and rclient.exists(inflight)  # nothing taken yet
    assert _told(rclient, outbox, "C02LAB") == []
    _project_all(store, outbox)  # the event is still pending: the joiner is answered now
    assert _told(rclient, outbox, "C01OPS") == ["U03CAROL"]
    assert _told(rclient, outbox, "C02LAB") == ["U02BOB"]
    assert not rclient.exists(waiters) and not rclient.exists(inflight)  # taken, once


class _JoinedWhileAnswering(Projector):
    joined = False

    def project(self, event: Event) -> None:
        super().project(event)
        if event.name == "check_result" and not self.joined:
            self.joined = True  # someone asks while the answer is projected, before the EXEC
            target = reads.check_target("SYNC01")
            assert not reads.lead_or_join(self.store, LIMITS, target, "C03DEV", "U01ALICE")


def test_a_read_joined_while_its_answer_is_projected_is_answered_too(
    rclient: redis.Redis,
) -> None:
    store, outbox = RequestStore(rclient, prefix="pj"), Outbox(rclient, prefix="pj")
    target = reads.check_target("SYNC01")
    assert reads.lead_or_join(store, LIMITS, target, "C01OPS", "U03CAROL")
    _check_answered(store)
    projector = _JoinedWhileAnswering(store, outbox, CONFIG)
    while projector.step(block_ms=1):
        pass
    assert _told(rclient, outbox, "C01OPS") == ["U03CAROL"]
    assert _told(rclient, outbox, "C03DEV") == ["U01ALICE"]  # the EXEC failed: projected again
    assert len(rclient.keys(f"{store.prefix}:projected:*")) == 1
    waiters, inflight = reads.waiter_keys(store, target)
    assert not rclient.exists(waiters) and not rclient.exists(inflight)
