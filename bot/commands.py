"""What each /cloudsync subcommand does, after the ack: call the domain, render a reply.

Returns a ``Reply`` for the user who typed the command (sent ephemerally through the command's
response_url). Channel-visible effects (the approval card, progress) come from the projector.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import kombu.exceptions
import redis

from bot import blocks, grammar
from bot.context import BotContext
from workers.domain.model import ChangeKind, State
from workers.domain.store import TransitionRefused
from workers.runbook.plan import render_plan

log = logging.getLogger(__name__)
UNAVAILABLE = (
    ":warning: The bot cannot reach its store right now, so nothing was recorded or started. "
    "Try again in a minute; if it persists, ask an operator to check Redis."
)


@dataclass
class Reply:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def handle(
    ctx: BotContext,
    command: grammar.Command,
    *,
    user: str,
    channel: str,
    user_groups: Collection[str] = (),
) -> Reply | None:
    try:
        return _dispatch(ctx, command, user=user, channel=channel, user_groups=user_groups)
    except TransitionRefused as exc:
        return Reply(text=f":no_entry: {exc}")
    except (redis.ConnectionError, redis.TimeoutError, kombu.exceptions.OperationalError):
        log.warning("store or broker unavailable while handling a command", exc_info=True)
        return Reply(text=UNAVAILABLE)


def _dispatch(
    ctx: BotContext,
    command: grammar.Command,
    *,
    user: str,
    channel: str,
    user_groups: Collection[str],
) -> Reply | None:
    store, service = ctx.store, ctx.service
    if isinstance(command, grammar.Change):
        request = service.submit(command.change, user, channel, user_groups)
        kind = "install" if command.change.kind is ChangeKind.INSTALL else command.change.kind.value
        return Reply(
            text=(
                f":inbox_tray: *{request.id}* ({kind} on {', '.join(command.change.hosts)}) "
                "created. Running preflight now; the approval card follows in this channel."
            )
        )
    if isinstance(command, grammar.Plan):
        plan = render_plan(command.change, ctx.config)
        return Reply(text=blocks.plan_text(command.change, plan))
    if isinstance(command, grammar.Check):
        ctx.dispatcher.check(command.host, channel, user)
        return Reply(text=f":mag: Checking {command.host} (read-only preflight)…")
    if isinstance(command, grammar.Agents):
        ctx.dispatcher.fleet(channel, user)
        return Reply(text=":mag: Reading the agent on every inventory host…")
    if isinstance(command, grammar.Status):
        if command.request_id:
            request = store.require(command.request_id)
            events = store.events(request_id=request.id)
            return Reply(
                text=blocks.status_text(
                    request, store.all_steps(request), [e.to_dict() for e in events]
                )
            )
        requests = store.recent_in_channel(channel, limit=10)
        return Reply(text=blocks.list_text(requests))
    if isinstance(command, grammar.List):
        if command.mine:
            requests = store.recent_of_user(user, limit=20)
        elif command.pending:
            requests = [
                r for r in store.in_states([State.PENDING_APPROVAL]) if r.channel == channel
            ]
        else:
            requests = store.recent_in_channel(channel, limit=20)
        return Reply(text=blocks.list_text(requests))
    if isinstance(command, grammar.Cancel):
        request = service.cancel(command.request_id, user, user_groups)
        if request.state is State.RUNNING:
            return Reply(text=f":octagonal_sign: Stopping {request.id} at the current step…")
        return Reply(text=f":octagonal_sign: {request.id} cancelled.")
    if isinstance(command, grammar.Retry):
        request = service.retry(command.request_id, user, command.from_step, user_groups)
        start = f" from `{command.from_step}`" if command.from_step else ""
        return Reply(text=f":repeat: {request.id} queued again{start}.")
    if isinstance(command, grammar.Help):
        return Reply(text=grammar.help_text(command.topic))
    return Reply(text=grammar.help_text(None))
