"""build_app: the Bolt app with its listeners, for Socket Mode, HTTP mode and the local console."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient

from bot.context import BotContext
from bot.groups import GroupResolver
from bot.listeners import actions, commands, events, views, watch
from bot.membership import ChannelAccess
from workers import redis_connect

log = logging.getLogger(__name__)


def make_web_client(token: str, base_url: str | None) -> WebClient:
    """The bot's Web API client. ``base_url`` is SLACK_API_URL (loopback server, proxy)."""
    if base_url:
        return WebClient(token=token, base_url=base_url)
    return WebClient(token=token)


# slack_sdk's SignatureVerifier accepts a timestamp up to 300 s either side of now, so one
# signature verifies for up to 600 s; remember it for all of that plus clock skew.
SIGNATURE_VALIDITY_S = 600
CLOCK_SKEW_S = 120
REPLAY_WINDOW_S = SIGNATURE_VALIDITY_S + CLOCK_SKEW_S
REPLAY_STORE_TIMEOUT_S = 0.3
TRY_AGAIN = (
    ":hourglass: The bot cannot reach its store right now, so it did nothing with this request "
    "(it cannot tell it from a replay). Try again in a minute; if it persists, ask an operator "
    "to check Redis."
)


def replay_guard(ctx: BotContext) -> Callable[..., Any]:
    """Refuse a signed request seen before. Bolt checks the signature and the timestamp window
    first; within that window a captured request could be sent again (an approval click
    replayed), so each signature is accepted once. Fails closed: when Redis cannot answer, the
    request is refused with a retryable answer (a slash command gets an ephemeral "try again",
    anything else HTTP 503, which Slack retries for events and shows as a failed click)."""

    # Runs before the ack: a short timeout keeps a slow Redis from delaying Slack's 3 s answer.
    fast = redis_connect.like(ctx.redis, socket_timeout=REPLAY_STORE_TIMEOUT_S)

    def middleware(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> Any:
        signature = (req.headers.get("x-slack-signature") or [""])[0]
        if signature:
            key = f"{ctx.store.prefix}:seen-signature:{signature}"
            try:
                first = fast.set(key, "1", nx=True, ex=REPLAY_WINDOW_S)
            except Exception as exc:  # cannot tell a replay from a first sight: refuse
                log.warning("replay guard: store unavailable (%s); refused", type(exc).__name__)
                if req.body.get("command"):
                    return BoltResponse(
                        status=200, body={"response_type": "ephemeral", "text": TRY_AGAIN}
                    )
                return BoltResponse(status=503, body="try again", headers={"retry-after": "5"})
            if not first:
                return BoltResponse(status=401, body="replayed request")
        return next()

    return middleware


def build_app(
    ctx: BotContext,
    *,
    token: str,
    signing_secret: str,
    client: WebClient,
    token_verification: bool = True,
) -> App:
    if client.token != token:
        raise ValueError("the Web API client must carry the bot token")
    app = App(  # the token travels in the client (base_url may point at a proxy or loopback)
        signing_secret=signing_secret,
        client=client,
        token_verification_enabled=token_verification,
        logger=logging.getLogger("cloudsync.bolt"),
    )
    resolver = GroupResolver(client, ttl_s=ctx.config.policy.group_cache_s)
    candidate_groups = set(ctx.config.policy.requester_groups)
    candidate_groups.update(ctx.config.policy.reader_groups or ())
    for rule in ctx.config.policy.approvers:
        candidate_groups.update(rule.groups)

    def groups_of(user: str) -> set[str]:
        if not candidate_groups:
            return set()
        return resolver.groups_of(user, candidate_groups)

    app.middleware(replay_guard(ctx))
    access = ChannelAccess(client, blocked=ctx.outbox.blocked)
    commands.register(app, ctx, groups_of, access=access)
    register: list[Callable[..., None]] = [
        actions.register,
        views.register,
        events.register,
        watch.register,
    ]
    for fn in register:
        fn(app, ctx, groups_of)
    return app
