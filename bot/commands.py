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

from bot import blocks, grammar, reads
from bot.blocks.kit import KIND_TITLES
from bot.blocks.words import attempt_started, counted_steps, current_results
from bot.context import BotContext
from bot.signed import signed_view
from bot.watch_commands import handle_watch
from workers.domain import policy
from workers.domain.model import Request, State, StepStatus
from workers.domain.store import TransitionRefused
from workers.runbook.plan import render_plan
from workers.runbook.steps import RUNS_TO_COMPLETION
from workers.runbook.trace_logs import since_words

log = logging.getLogger(__name__)
UNAVAILABLE = (
    ":warning: The bot cannot reach its store right now, so nothing was recorded or started. "
    "Try again in a minute; if it persists, ask an operator to check Redis."
)


@dataclass
class Reply:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    request_id: str | None = None  # the request the command created or acted on
    in_channel: bool = False  # what follows is posted in the channel (card, progress, answer)


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
    service = ctx.service
    if isinstance(command, grammar.Change):
        request = service.submit(command.change, user, channel, user_groups)
        kind = KIND_TITLES[command.change.kind]  # words, not the enum value (domain_add)
        return Reply(
            text=(
                f":inbox_tray: *{request.id}* ({kind} on {_hosts_named(command.change.hosts)}) "
                "created. Running preflight now; the approval card follows in this channel."
            ),
            request_id=request.id,
            in_channel=True,
        )
    if isinstance(command, READS):
        return _read(ctx, command, user=user, channel=channel, user_groups=user_groups)
    if isinstance(command, grammar.Cancel):
        request = service.cancel(command.request_id, user, user_groups)
        if request.state is State.RUNNING:
            return Reply(
                text=f":octagonal_sign: Stopping {request.id}{_running_steps(ctx, request)}. "
                "The thread will say whether the step was stopped or ran to completion, and "
                "what state the host is in.",
                request_id=request.id,
                in_channel=True,
            )
        return Reply(
            text=f":octagonal_sign: {request.id} cancelled.",
            request_id=request.id,
            in_channel=True,
        )
    if isinstance(command, grammar.Retry):
        request = service.retry(command.request_id, user, command.from_step, user_groups)
        start = f" from `{command.from_step}`" if command.from_step else ""
        return Reply(
            text=f":repeat: {request.id} queued again{start}.",
            request_id=request.id,
            in_channel=True,
        )
    if isinstance(command, grammar.Help):
        return Reply(text=grammar.help_text(command.topic))
    if isinstance(command, grammar.Watch):
        return Reply(
            text=handle_watch(ctx, command, user=user, channel=channel, user_groups=user_groups)
        )
    return Reply(text=grammar.help_text(None))


def _running_steps(ctx: BotContext, request: Request) -> str:
    """`: SYNC01 is on install` — the step each host is running as the cancel is asked; a
    step the cancel does not interrupt (the installer) says that the run waits for it."""
    on = [
        f"{host} is on {result.step_id}"
        + (
            " (an installer is not stopped mid-way: it runs to completion, then the run stops)"
            if result.step_id in RUNS_TO_COMPLETION
            else ""
        )
        for host, results in ctx.store.all_steps(request).items()
        for result in results
        if result.status is StepStatus.RUNNING
    ]
    return (": " + ", ".join(on[:5]) + (" …" if len(on) > 5 else "")) if on else ""


def _hosts_named(hosts: Collection[str]) -> str:
    """Every host, so a request naming a tag shows what it expanded to (the approval covers
    exactly these names); counted first when there are many."""
    names = ", ".join(hosts)
    return f"{len(hosts)} hosts: {names}" if len(hosts) > 3 else names


READS = (grammar.Plan, grammar.Check, grammar.Agents, grammar.Status, grammar.List, grammar.Logs)


def _refused(ctx: BotContext, user: str, action: str, reason: str) -> Reply:
    reads.record_refusal(ctx.store, user, action, reason)
    return Reply(text=f":no_entry: {reason}")


def _host_tags(ctx: BotContext, hosts: Collection[str]) -> dict[str, tuple[str, ...]]:
    return {h: ctx.config.hosts[h].tags if h in ctx.config.hosts else () for h in hosts}


def _participant(
    ctx: BotContext, request: Request, user: str, user_groups: Collection[str]
) -> bool:
    """The requester, whoever approved or decided, and anyone who may approve it."""
    if user == request.requester or user == request.decided_by:
        return True
    if any(a.user == user for a in request.approvals):
        return True
    tags = _host_tags(ctx, request.change.hosts)
    return policy.is_approver(ctx.config.policy, user, user_groups, tags)


def _read(
    ctx: BotContext,
    command: grammar.Plan
    | grammar.Check
    | grammar.Agents
    | grammar.Status
    | grammar.List
    | grammar.Logs,
    *,
    user: str,
    channel: str,
    user_groups: Collection[str],
) -> Reply:
    """The read commands, under ``policy.may_read`` and the allowed channels: they open WinRM
    sessions with the admin login or show a request's trail, so not every member may."""
    store = ctx.store
    action = type(command).__name__.lower()
    decision = policy.may_read(ctx.config.policy, user, channel, user_groups)
    if not decision.allowed:
        return _refused(ctx, user, action, decision.reason)
    if isinstance(command, grammar.Plan):
        plan = render_plan(command.change, ctx.config)
        tags = _host_tags(ctx, command.change.hosts)
        approver = policy.is_approver(ctx.config.policy, user, user_groups, tags)
        return Reply(text=blocks.plan_text(command.change, plan, show_accounts=approver))
    if isinstance(command, grammar.Logs):
        return _logs(ctx, command, user=user, channel=channel)
    if isinstance(command, grammar.Check | grammar.Agents):
        wait = reads.wait_before_next_read(store, ctx.read_limits, user)
        if wait:
            limits = ctx.read_limits
            return _refused(
                ctx,
                user,
                action,
                f"You ran {limits.per_user} checks in {limits.window_s} s (each opens a WinRM "
                f"session on the servers); try again in {wait} s.",
            )
        if isinstance(command, grammar.Check):
            target = reads.check_target(command.host)
            if not reads.lead_or_join(store, ctx.read_limits, target, channel, user):
                return Reply(
                    text=f":mag: A check of {command.host} is already running; "
                    "you get its answer too.",
                    in_channel=True,
                )
            ctx.dispatcher.check(command.host, channel, user)
            return Reply(
                text=f":mag: Checking {command.host} (read-only preflight)…", in_channel=True
            )
        if not reads.lead_or_join(store, ctx.read_limits, reads.AGENTS_TARGET, channel, user):
            return Reply(
                text=":mag: The agents are being read already; you get the answer too.",
                in_channel=True,
            )
        ctx.dispatcher.fleet(channel, user)
        return Reply(text=":mag: Reading the agent on every inventory host…", in_channel=True)
    if isinstance(command, grammar.Status) and command.request_id:
        request = store.require(command.request_id)
        if channel != request.channel and not _participant(ctx, request, user, user_groups):
            return _refused(
                ctx,
                user,
                action,
                f"{request.id} can be shown only in the channel it was requested in, or to "
                "its requester and approvers.",
            )
        events = store.events(request_id=request.id)
        # counted as the card counts them: this attempt's results merged with the plan
        results = current_results(store.all_steps(request), attempt_started(events))
        planned = {host: list(pre.steps) for host, pre in request.preflight.items()}
        steps = counted_steps(planned, results, request.change.hosts)
        shown, ignored = signed_view(ctx.service.sealer, request)  # as the service counts them
        return Reply(
            text=blocks.status_text(
                shown, steps, [e.to_dict() for e in events], ignored_approvals=ignored
            )
        )
    if isinstance(command, grammar.List) and command.mine:
        requests = store.recent_of_user(user, limit=20)
    elif isinstance(command, grammar.List) and command.pending:
        requests = [r for r in store.in_states([State.PENDING_APPROVAL]) if r.channel == channel]
    else:
        limit = 20 if isinstance(command, grammar.List) else 10
        requests = store.recent_in_channel(channel, limit=limit)
    return Reply(text=blocks.list_text([ctx.service.sealer.genuine(r) for r in requests]))


def _logs(ctx: BotContext, command: grammar.Logs, *, user: str, channel: str) -> Reply:
    """``logs HOST``: under the per-user read limit (it opens a WinRM session with the admin
    login), one collection per host at a time; the worker uploads the archive to the channel."""
    limits = ctx.read_limits
    wait = reads.wait_before_next_read(ctx.store, limits, user)
    if wait:
        return _refused(
            ctx,
            user,
            "logs",
            f"You ran {limits.per_user} reads in {limits.window_s} s (each opens a WinRM session "
            f"on the servers); try again in {wait} s.",
        )
    target = reads.logs_target(command.host)
    if not reads.lead_or_join(ctx.store, limits, target, channel, user, limits.logs_hold_s):
        return Reply(
            text=f":package: The logs of {command.host} are being collected already; "
            "they are uploaded where that was asked, and you are told when.",
            in_channel=True,
        )
    ctx.dispatcher.logs(command.host, command.since_s, channel, user)
    return Reply(
        text=f":package: Collecting the agent logs of {command.host} "
        f"(last {since_words(command.since_s)}, read-only); the archive is uploaded here.",
        in_channel=True,
    )
