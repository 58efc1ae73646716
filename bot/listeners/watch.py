"""The buttons of a fleet watch notice: Restart opens an ordinary restart request (the same path
as ``/cloudsync restart HOST``: the clicker is the requester, policy decides, approval follows on
its card); Check runs the read-only check as ``/cloudsync check HOST`` does."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot import commands, grammar
from bot.blocks.watch import CHECK_ACTION, RESTART_ACTION
from bot.context import BotContext
from workers.domain.model import ChangeKind, ChangeSpec
from workers.domain.validation import ValidationError, validate_host_name


def _host(ctx: BotContext, action: dict[str, Any]) -> str:
    """The button's host when it is an inventory host name, else "" (a value comes from the
    client: never echoed or used unless it has the strict form and is known)."""
    try:
        name = validate_host_name(str(action.get("value", "")))
    except ValidationError:
        return ""
    return name if name in ctx.config.hosts else ""


def _channel(body: dict[str, Any]) -> str:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    return str(channel or "")


def register(app: App, ctx: BotContext, groups_of: Any) -> None:
    def answer(
        ack: Ack,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Respond,
        make: Any,
    ) -> None:
        ack()
        user = str(body["user"]["id"])
        host = _host(ctx, action)
        if not host:
            respond(
                response_type="ephemeral", replace_original=False, text=":no_entry: No such host."
            )
            return
        reply = commands.handle(
            ctx, make(host), user=user, channel=_channel(body), user_groups=groups_of(user)
        )
        if reply is not None:
            respond(response_type="ephemeral", replace_original=False, text=reply.text)

    @app.action(RESTART_ACTION)
    def on_restart(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        answer(
            ack,
            body,
            action,
            respond,
            lambda host: grammar.Change(ChangeSpec(kind=ChangeKind.RESTART, hosts=(host,))),
        )

    @app.action(CHECK_ACTION)
    def on_check(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        answer(ack, body, action, respond, grammar.Check)
