"""``/cloudsync watch status|pause HOST|resume HOST`` after the ack: policy, the watch store, the
answer text. ``status`` is a read (``policy.may_read``); pausing and resuming a host are for the
approvers of that host (they decide what runs on it) and are audited."""

from __future__ import annotations

from collections.abc import Collection

from bot import grammar, reads
from bot.blocks.watch import watch_status_text
from bot.context import BotContext
from workers.domain import policy
from workers.watch.store import WatchStore


def _refused(ctx: BotContext, user: str, action: str, reason: str) -> str:
    reads.record_refusal(ctx.store, user, action, reason)
    return f":no_entry: {reason}"


def handle_watch(
    ctx: BotContext,
    command: grammar.Watch,
    *,
    user: str,
    channel: str,
    user_groups: Collection[str],
) -> str:
    """The answer for the user who typed the command (ephemeral)."""
    watch = WatchStore(ctx.store.redis, ctx.store.prefix)
    action = f"watch_{command.action}"
    decision = policy.may_read(ctx.config.policy, user, channel, user_groups)
    if not decision.allowed:
        return _refused(ctx, user, action, decision.reason)
    if command.action == "status":
        return watch_status_text(
            watch.hosts(),
            watch.paused(),
            watch.tenants(),
            sorted(ctx.config.hosts),
            ctx.config.policy.min_healthy_agents,
        )
    host = command.host or ""
    tags = {host: ctx.config.hosts[host].tags if host in ctx.config.hosts else ()}
    if not policy.is_approver(ctx.config.policy, user, user_groups, tags):
        return _refused(
            ctx,
            user,
            action,
            f"Only an approver of {host} may {command.action} its watch "
            "(they decide what runs on it).",
        )
    if command.action == "pause":
        if not watch.pause(host, user):
            return f":pause_button: The watch of {host} is paused already."
        ctx.store.record("", "watch_paused", actor=user, data={"host": host, "channel": channel})
        return (
            f":pause_button: The watch no longer reads {host} (no notices for it) until "
            f"`{grammar.SLASH} watch resume {host}`."
        )
    if not watch.resume(host):
        return f":arrow_forward: The watch of {host} is not paused."
    ctx.store.record("", "watch_resumed", actor=user, data={"host": host, "channel": channel})
    return (
        f":arrow_forward: The watch reads {host} again; a change since the pause is posted once "
        "it held for two reads."
    )
