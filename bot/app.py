"""build_app: the Bolt app with its listeners, for Socket Mode, HTTP mode and the local console."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import App
from slack_sdk import WebClient

from bot.context import BotContext
from bot.groups import GroupResolver
from bot.listeners import actions, commands, events, views


def make_web_client(token: str, base_url: str | None) -> WebClient:
    """The bot's Web API client. ``base_url`` is SLACK_API_URL (loopback server, proxy)."""
    if base_url:
        return WebClient(token=token, base_url=base_url)
    return WebClient(token=token)


def build_app(
    ctx: BotContext,
    *,
    token: str,
    signing_secret: str,
    client: WebClient,
    token_verification: bool = True,
) -> App:
    app = App(
        token=token,
        signing_secret=signing_secret,
        client=client,
        token_verification_enabled=token_verification,
        logger=logging.getLogger("cloudsync.bolt"),
    )
    resolver = GroupResolver(client, ttl_s=ctx.config.policy.group_cache_s)
    candidate_groups = set(ctx.config.policy.requester_groups)
    for rule in ctx.config.policy.approvers:
        candidate_groups.update(rule.groups)

    def groups_of(user: str) -> set[str]:
        if not candidate_groups:
            return set()
        return resolver.groups_of(user, candidate_groups)

    register: list[Callable[..., None]] = [
        commands.register,
        actions.register,
        views.register,
        events.register,
    ]
    for fn in register:
        fn(app, ctx, groups_of)
    return app
