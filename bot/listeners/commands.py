"""The /cloudsync slash command: ack within 3 s, then call the domain, then respond."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot import commands, grammar
from bot.context import BotContext


def register(app: App, ctx: BotContext, groups_of: Any) -> None:
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
        if reply is not None:
            respond(
                response_type="ephemeral",
                replace_original=False,
                text=reply.text,
                blocks=reply.blocks or None,
            )
