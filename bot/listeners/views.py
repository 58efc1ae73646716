"""The Deny modal's submission: the reason is required."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.context import BotContext
from workers.domain.store import TransitionRefused
from workers.domain.validation import REQUEST_ID_RE


def _reason(view: dict[str, Any]) -> str:
    for block in (view.get("state") or {}).get("values", {}).values():
        for element in block.values():
            if element.get("value"):
                return str(element["value"])
    return ""


def register(app: App, ctx: BotContext, groups_of: Any) -> None:
    @app.view("deny_reason")
    def on_deny_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = _reason(view).strip()
        if not reason:
            ack(response_action="errors", errors={"reason": "Say why the request is denied."})
            return
        ack()
        user = body["user"]["id"]
        request_id = str(view.get("private_metadata", ""))
        if not REQUEST_ID_RE.fullmatch(request_id):  # metadata comes back from the client
            return
        request = ctx.store.get(request_id)
        if request is None:
            return
        try:
            ctx.service.deny(request_id, user, request.channel, reason, groups_of(user))
        except TransitionRefused as exc:
            ctx.store.record(
                request_id,
                "notice",
                actor=None,
                data={"channel": request.channel, "user": user, "text": f":no_entry: {exc}"},
            )
