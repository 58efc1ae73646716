"""Approve and Deny buttons (in the channel card and in App Home)."""

from __future__ import annotations

from typing import Any

import kombu.exceptions
import redis
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import blocks
from bot.blocks.kit import esc
from bot.commands import UNAVAILABLE
from bot.context import BotContext
from workers.domain.store import TransitionRefused
from workers.domain.validation import REQUEST_ID_RE

NO_SUCH = "No such request."


def _request_id(action: dict[str, Any]) -> str:
    """The button's value when it is a request id, else "": a value comes from the client and
    is never echoed (or used as a key) unless it has the id's strict form."""
    value = str(action.get("value", ""))
    return value if REQUEST_ID_RE.fullmatch(value) else ""


def _missing(request_id: str) -> str:
    return f"No request {esc(request_id)}." if request_id else NO_SUCH


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
        request_id = _request_id(action)
        try:
            if not request_id:  # not an id: never echoed, never used as a key
                _refuse(respond, NO_SUCH)
                return
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
        request_id = _request_id(action)
        if not request_id:
            _refuse(respond, NO_SUCH)
            return
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
        request_id = _request_id(action)
        if not request_id:
            _refuse(respond, NO_SUCH)
            return
        try:
            ctx.service.cancel(request_id, user, groups_of(user))
        except TransitionRefused as exc:
            _refuse(respond, str(exc))
