"""The /cloudsync slash command: ack within 3 s, then call the domain, then respond."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond

from bot import commands, grammar
from bot.context import BotContext
from bot.membership import ChannelAccess, invite_hint

log = logging.getLogger(__name__)


def register(
    app: App, ctx: BotContext, groups_of: Any, access: ChannelAccess | None = None
) -> None:
    @app.command("/cloudsync")
    def on_cloudsync(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        parsed = grammar.parse(
            command.get("text", ""),
            ctx.config.hosts.keys(),
            tags=grammar.inventory_tags(ctx.config.hosts),
            max_hosts=ctx.config.policy.max_hosts_per_request,
        )
        if isinstance(parsed, grammar.UsageError):
            ack(response_type="ephemeral", text=parsed.message)  # pure and instant: no I/O yet
            return
        if isinstance(parsed, grammar.Help):
            ack(response_type="ephemeral", text=grammar.help_text(parsed.topic))
            return
        ack()
        user, channel = command["user_id"], command["channel_id"]
        reply = commands.handle(
            ctx, parsed, user=user, channel=channel, user_groups=groups_of(user)
        )
        if reply is None:
            return
        log.info(  # the request id on the line an SRE greps for
            "command %s by %s in %s",
            type(parsed).__name__.lower(),
            user,
            channel,
            extra={"request_id": reply.request_id},
        )
        text, blocks = reply.text, reply.blocks or None
        # What follows a command that did something is posted in the channel (the card, the
        # progress, a check's answer): the bot must be a member of it. Refusals and reads
        # answer through the command's response_url only, which needs no membership.
        problem = access.problem(channel) if access and reply.in_channel else None
        if problem:
            # chat.postEphemeral cannot reach a channel the bot is not in either: the
            # response_url can (it answers the command, membership or not).
            text, blocks = f"{reply.text}\n{invite_hint(channel, problem)}", None
            if reply.request_id:
                ctx.store.record(
                    reply.request_id,
                    "channel_unreachable",
                    actor=None,
                    data={"channel": channel, "error": problem, "told": user},
                )
        respond(response_type="ephemeral", replace_original=False, text=text, blocks=blocks)
