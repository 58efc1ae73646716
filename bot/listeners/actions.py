"""Approve and Deny buttons (in the channel card and in App Home)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kombu.exceptions
import redis
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import blocks
from bot.blocks.kit import MAX_SECTION, clip
from bot.commands import UNAVAILABLE
from bot.context import BotContext
from bot.projector import home_for, set_home_notice
from workers.domain.store import TransitionRefused
from workers.domain.validation import REQUEST_ID_RE

NO_SUCH = "No such request."


def _request_id(action: dict[str, Any]) -> str:
    """The button's value when it is a request id, else "": a value comes from the client and
    is never echoed (or used as a key) unless it has the id's strict form."""
    value = str(action.get("value", ""))
    return value if REQUEST_ID_RE.fullmatch(value) else ""


def _refuse(respond: Respond, message: str) -> None:
    respond(response_type="ephemeral", replace_original=False, text=f":no_entry: {message}")


def _home_refusal(ctx: BotContext, user: str, groups: Any, message: str) -> None:
    """A click in App Home carries no response_url
    (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload): the refusal
    is shown at the top of the user's Home view, republished at once."""
    set_home_notice(ctx.store, user, f":no_entry: {clip(message, MAX_SECTION - 20)}")
    ctx.outbox.publish_home(
        user, home_for(ctx.store, ctx.config, user, groups, sealer=ctx.service.sealer)
    )


def _click_channel(body: dict[str, Any]) -> str:
    """Where the click came from ("" from App Home: the policy then uses the request's)."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    return str(channel or "")


def register(app: App, ctx: BotContext, groups_of: Any) -> None:
    def refuser(body: dict[str, Any], respond: Respond) -> Callable[[str], None]:
        """How to tell the clicking user why not: the response_url of a message click, the
        Home view for a click in App Home."""
        if body.get("response_url"):
            return lambda message: _refuse(respond, message)
        user = str(body["user"]["id"])
        return lambda message: _home_refusal(ctx, user, groups_of(user), message)

    @app.action("approve")
    def on_approve(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        ack()
        refuse = refuser(body, respond)
        user = body["user"]["id"]
        request_id = _request_id(action)
        try:
            if not request_id:  # not an id: never echoed, never used as a key
                refuse(NO_SUCH)
                return
            ctx.service.approve(request_id, user, _click_channel(body), groups_of(user))
        except TransitionRefused as exc:
            refuse(str(exc))
        except (redis.ConnectionError, redis.TimeoutError, kombu.exceptions.OperationalError):
            refuse(UNAVAILABLE)

    @app.action("deny")
    def on_deny(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        ack()
        refuse = refuser(body, respond)
        user = body["user"]["id"]
        request_id = _request_id(action)
        if not request_id:
            refuse(NO_SUCH)
            return
        # Refuse before opening the modal, so nobody types a reason that cannot count; the
        # submission is checked again (state may change while the modal is open).
        try:
            ctx.service.check_deny(request_id, user, _click_channel(body), groups_of(user))
        except TransitionRefused as exc:
            refuse(str(exc))
            return
        if body.get("trigger_id"):
            client.views_open(trigger_id=body["trigger_id"], view=blocks.deny_modal(request_id))

    @app.action("cancel")
    def on_cancel(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        refuse = refuser(body, respond)
        user = body["user"]["id"]
        request_id = _request_id(action)
        if not request_id:
            refuse(NO_SUCH)
            return
        try:
            ctx.service.cancel(request_id, user, groups_of(user))
        except TransitionRefused as exc:
            refuse(str(exc))

    @app.action("resubmit_without")
    def on_resubmit(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        ack()
        refuse = refuser(body, respond)
        user = body["user"]["id"]
        request_id = _request_id(action)
        if not request_id:
            refuse(NO_SUCH)
            return
        try:
            fresh, left_out = ctx.service.resubmit_without_blocked(
                request_id, user, groups_of(user)
            )
        except TransitionRefused as exc:
            refuse(str(exc))
            return
        except (redis.ConnectionError, redis.TimeoutError, kombu.exceptions.OperationalError):
            refuse(UNAVAILABLE)
            return
        if body.get("response_url"):
            respond(
                response_type="ephemeral",
                replace_original=False,
                text=blocks.resubmitted_text(request_id, fresh, left_out),
            )
