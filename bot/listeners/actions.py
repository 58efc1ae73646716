"""Approve and Deny buttons (in the channel card and in App Home)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import blocks
from bot.context import BotContext
from workers.domain import policy
from workers.domain.store import TransitionRefused


def _refuse(respond: Respond, message: str) -> None:
    respond(response_type="ephemeral", replace_original=False, text=f":no_entry: {message}")


def register(app: App, ctx: BotContext, groups_of: Any) -> None:
    @app.action("approve")
    def on_approve(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        ack()
        user = body["user"]["id"]
        request_id = str(action.get("value", ""))
        request = ctx.store.get(request_id)
        if request is None:
            _refuse(respond, f"No request {request_id}.")
            return
        try:
            ctx.service.approve(request_id, user, request.channel, groups_of(user))
        except TransitionRefused as exc:
            _refuse(respond, str(exc))

    @app.action("deny")
    def on_deny(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        ack()
        user = body["user"]["id"]
        request_id = str(action.get("value", ""))
        request = ctx.store.get(request_id)
        if request is None:
            _refuse(respond, f"No request {request_id}.")
            return
        tags = {h: ctx.config.hosts[h].tags for h in request.change.hosts if h in ctx.config.hosts}
        if user != request.requester and not policy.is_approver(
            ctx.config.policy, user, groups_of(user), tags
        ):
            _refuse(
                respond,
                policy.may_approve(
                    ctx.config.policy, request, user, request.channel, groups_of(user), tags
                ).reason,
            )
            return
        if body.get("trigger_id"):
            client.views_open(trigger_id=body["trigger_id"], view=blocks.deny_modal(request_id))

    @app.action("cancel")
    def on_cancel(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user = body["user"]["id"]
        try:
            ctx.service.cancel(str(action.get("value", "")), user, groups_of(user))
        except TransitionRefused as exc:
            _refuse(respond, str(exc))
