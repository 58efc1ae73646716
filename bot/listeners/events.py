"""App Home: approvers see what waits for them; everyone sees their own requests."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.context import BotContext
from bot.projector import home_for, remember_home_viewer


def register(app: App, ctx: BotContext, groups_of: Any) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event["user"])
        groups = groups_of(user)
        remember_home_viewer(ctx.store, user, groups)
        ctx.outbox.publish_home(
            user, home_for(ctx.store, ctx.config, user, groups, sealer=ctx.service.sealer)
        )
