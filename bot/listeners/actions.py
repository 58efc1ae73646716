"""Approve and Deny buttons (in the channel card and in App Home)."""

from __future__ import annotations

from typing import Any

import kombu.exceptions
import redis
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import blocks
from bot.commands import UNAVAILABLE
from bot.context import BotContext
from workers.domain.store import TransitionRefused


def _refuse(respond: Respond, message: str) -> None:
    respond(response_type="ephemeral", replace_original=False, text=f":no_entry: {message}")


def _click_channel(body: dict[str, Any]) -> str:
    """Where the click came from ("" from App Home: the policy then uses the request's)."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    return str(channel or "")


def register(app: App, ctx: BotContext, groups_of: Any) -> None:
    @app.action("approve")
    def on_approve(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        ack()
        user = body["user"]["id"]
        request_id = str(action.get("value", ""))
        try:
            ctx.service.approve(request_id, user, _click_channel(body), groups_of(user))
        except TransitionRefused as exc:
            _refuse(respond, str(exc))
        except (redis.ConnectionError, redis.TimeoutError, kombu.exceptions.OperationalError):
            _refuse(respond, UNAVAILABLE)

    @app.action("deny")
    def on_deny(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        ack()
        user = body["user"]["id"]
        request_id = str(action.get("value", ""))
        # Refuse before opening the modal, so nobody types a reason that cannot count; the
        # submission is checked again (state may change while the modal is open).
        try:
            ctx.service.check_deny(request_id, user, _click_channel(body), groups_of(user))
        except TransitionRefused as exc:
            _refuse(respond, str(exc))
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
