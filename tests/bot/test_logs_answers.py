"""What the bot says after ``logs HOST`` (real Redis: the read guards, the event stream, the
projector and the outbox): the leader gets nothing more on success (the upload is in the
channel), a joiner in another channel is told where it is, and a failure reaches everyone."""

from __future__ import annotations

import base64
import json
from typing import Any

import redis

from bot import commands, reads
from bot.context import build_context
from bot.grammar import Logs
from bot.projector import Projector
from workers.domain.config import REPO_ROOT, load_config
from workers.domain.store import RequestStore, decode_event
from workers.notify.items import OutboxItem, text_of
from workers.notify.outbox import Outbox
from workers.support_logs import LOGS_TIME_LIMIT_S

LIMITS = reads.ReadLimits(per_user=2, window_s=60, join_s=60)


def _ephemerals(rclient: redis.Redis, outbox: Outbox, channel: str) -> list[tuple[str, str]]:
    out = []
    for raw in rclient.lrange(outbox.keys.lane(channel), 0, -1):  # type: ignore[union-attr]
        item_id = text_of(raw)
        item = OutboxItem.from_hash(item_id, rclient.hgetall(outbox.keys.item(item_id)))  # type: ignore[arg-type]
        if item.kind == "ephemeral":
            out.append((str(item.user), str(item.content["text"])))
    return out


def _project_all(store: RequestStore, outbox: Outbox) -> None:
    projector = Projector(store, outbox, load_config(REPO_ROOT / "config" / "demo"))
    for entry_id, fields in store.redis.xrange(store.events_key):  # type: ignore[union-attr]
        projector.project(decode_event(entry_id, fields))


def test_one_collection_per_host_and_the_answers(rclient: redis.Redis) -> None:
    store = RequestStore(rclient, prefix="la")
    outbox = Outbox(rclient, prefix="la")
    target = reads.logs_target("SYNC01")
    assert reads.lead_or_join(store, LIMITS, target, "C01OPS", "U03CAROL")
    assert not reads.lead_or_join(store, LIMITS, target, "C02LAB", "U02BOB")
    data = {"channel": "C01OPS", "user": "U03CAROL", "host": "SYNC01", "ok": True}
    store.record("", "logs_result", actor=None, data=data)
    _project_all(store, outbox)
    assert _ephemerals(rclient, outbox, "C01OPS") == []
    [(user, text)] = _ephemerals(rclient, outbox, "C02LAB")
    assert user == "U02BOB" and "uploaded in <#C01OPS>" in text
    assert reads.lead_or_join(store, LIMITS, target, "C01OPS", "U03CAROL")  # guard released


def test_a_failure_reaches_the_asker_with_the_reason(rclient: redis.Redis) -> None:
    store = RequestStore(rclient, prefix="lb")
    outbox = Outbox(rclient, prefix="lb")
    data = {
        "channel": "C01OPS",
        "user": "U03CAROL",
        "host": "SYNC01",
        "ok": False,
        "error": "Slack refused the upload: <missing_scope>",
    }
    store.record("", "logs_result", actor=None, data=data)
    _project_all(store, outbox)
    [(user, text)] = _ephemerals(rclient, outbox, "C01OPS")
    assert user == "U03CAROL" and "were not uploaded" in text
    assert "&lt;missing_scope&gt;" in text and "/cloudsync check SYNC01" in text


def test_the_per_user_read_limit_counts_logs(rclient: redis.Redis) -> None:
    store = RequestStore(rclient, prefix="lc")
    assert reads.wait_before_next_read(store, LIMITS, "U03CAROL") == 0
    assert reads.wait_before_next_read(store, LIMITS, "U03CAROL") == 0
    assert reads.wait_before_next_read(store, LIMITS, "U03CAROL") > 0


def test_the_command_sends_a_task_joins_a_running_one_and_refuses_over_the_limit(
    rclient: redis.Redis, private_redis: Any
) -> None:
    """Through ``bot.commands.handle`` with a real Celery dispatcher on the private Redis: the
    task message carries the host, the span in seconds, the channel and the user only."""
    config = load_config(REPO_ROOT / "config" / "demo")
    ctx = build_context(config, private_redis.url, prefix="ld")
    ctx.read_limits = LIMITS
    reply = commands.handle(ctx, Logs("SYNC01", 1800), user="U03CAROL", channel="C01OPS")
    assert reply is not None and "Collecting the agent logs of SYNC01 (last 30m" in reply.text
    joined = commands.handle(ctx, Logs("SYNC01", 1800), user="U02BOB", channel="C01OPS")
    assert joined is not None and "being collected already" in joined.text
    second = commands.handle(ctx, Logs("SYNC02", 60), user="U03CAROL", channel="C01OPS")
    assert second is not None and "SYNC02 (last 1m" in second.text  # another host: its own
    refused = commands.handle(ctx, Logs("SYNC03", 60), user="U03CAROL", channel="C01OPS")
    assert refused is not None and refused.text.startswith(":no_entry: You ran 2 reads")
    messages = [json.loads(m) for m in rclient.lrange("cloudsync", 0, -1)]  # type: ignore[union-attr]
    tasks = [m["headers"]["task"] for m in messages]
    assert tasks == ["cloudsync.collect_logs"] * 2
    sent = sorted(json.loads(base64.b64decode(m["body"]))[0][:4] for m in messages)
    assert sent == [["SYNC01", 1800, "C01OPS", "U03CAROL"], ["SYNC02", 60, "C01OPS", "U03CAROL"]]


def test_the_collection_guard_lasts_as_long_as_the_collection_may_run(
    rclient: redis.Redis, private_redis: Any
) -> None:
    """A collection (the host's read, then the upload and its retries) may outlast the 60 s a
    check joins for: the host stays held that long, unless the answer releases it first."""
    config = load_config(REPO_ROOT / "config" / "demo")
    ctx = build_context(config, private_redis.url, prefix="lg")
    commands.handle(ctx, Logs("SYNC01", 1800), user="U03CAROL", channel="C01OPS")
    commands.handle(ctx, Logs("SYNC01", 1800), user="U02BOB", channel="C01OPS")  # joins
    waiters, inflight = reads.waiter_keys(ctx.store, reads.logs_target("SYNC01"))
    limit = int(LOGS_TIME_LIMIT_S)
    assert limit > ctx.read_limits.join_s
    assert limit - 5 <= int(rclient.ttl(inflight)) <= limit  # type: ignore[arg-type]
    assert limit - 5 <= int(rclient.ttl(waiters)) <= limit  # type: ignore[arg-type]
    check = reads.check_target("SYNC01")
    assert reads.lead_or_join(ctx.store, ctx.read_limits, check, "C01OPS", "U03CAROL")
    _, check_inflight = reads.waiter_keys(ctx.store, check)
    assert int(rclient.ttl(check_inflight)) <= ctx.read_limits.join_s  # type: ignore[arg-type]
    data = {"channel": "C01OPS", "user": "U03CAROL", "host": "SYNC01", "ok": True}
    ctx.store.record("", "logs_result", actor=None, data=data)
    _project_all(ctx.store, ctx.outbox)
    assert not rclient.exists(inflight)  # released on the answer, as before
