"""Signed slash commands and button clicks for a bot served over HTTP (``cloudsync serve --http``),
as Slack would send them: a rehearsal drives the real HTTP path with these instead of a workspace.

The signing secret comes from ``SLACK_SIGNING_SECRET`` (the same value the bot was started with);
response_urls point at the Slack stand-in (``SLACK_API_URL``), which records what the bot answers.
A click finds its button the way a person does: on the newest channel message that shows it.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from bot.local import payloads
from bot.local.signing import signed_headers
from workers.domain.config import Config

TIMEOUT_S = 30.0


class SendError(Exception):
    """Said in one line by ``cloudsync slack-standin send|click``; exit 2."""


def _user(config: Config, name: str) -> tuple[str, str]:
    user_id = config.user_id(name)
    if user_id is None:
        known = ", ".join(sorted(u.name for u in config.users.values()))
        raise SendError(f"no user {name!r} in the policy's users (known: {known})")
    return user_id, config.users[user_id].name


def _channel(config: Config) -> tuple[str, str]:
    if not config.policy.channels:
        raise SendError("the policy names no channel to send from")
    channel = config.policy.channels[0]
    return channel, config.channels.get(channel, channel)


def standin_base(api_url: str | None) -> str:
    if not api_url:
        raise SendError("set SLACK_API_URL to the URL cloudsync slack-standin prints")
    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}"


def _post(url: str, secret: str | None, body: str) -> requests.Response:
    if not secret:
        raise SendError("set SLACK_SIGNING_SECRET to the value the bot was started with")
    try:
        headers = signed_headers(secret, body)
        return requests.post(url, data=body, headers=headers, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise SendError(f"cannot reach the bot at {url}: {type(exc).__name__}") from exc


def command_body(config: Config, *, api_url: str | None, user: str, text: str) -> str:
    """The form body Slack sends for ``/cloudsync TEXT`` typed by ``user`` in the policy's
    channel (the same fields over HTTP and in a Socket Mode envelope)."""
    channel, channel_name = _channel(config)
    user_id, user_name = _user(config, user)
    return payloads.slash_command(
        user_id=user_id,
        user_name=user_name,
        channel_id=channel,
        channel_name=channel_name,
        text=text,
        response_url=f"{standin_base(api_url)}/_response/{user_id}-{secrets.token_hex(3)}",
    )


def send_command(
    config: Config, *, url: str, secret: str | None, api_url: str | None, user: str, text: str
) -> str:
    """``/cloudsync TEXT`` from ``user``; returns what the bot answered at once (the ack)."""
    body = command_body(config, api_url=api_url, user=user, text=text)
    return _answer(_post(url, secret, body)) or "sent (the bot answers in the channel)"


def _button(message: dict[str, Any], action_id: str) -> str | None:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(element.get("value", ""))
    return None


def _find_button(
    base: str,
    channel: str,
    channel_name: str,
    action_id: str,
    request_id: str | None,
    wait_s: float,
) -> tuple[dict[str, Any], str]:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            reply = requests.get(
                f"{base}/_loopback/messages", params={"channel": channel}, timeout=TIMEOUT_S
            )
            messages = reply.json()
        except (requests.RequestException, ValueError) as exc:
            raise SendError(f"cannot read the stand-in's messages at {base}") from exc
        for message in reversed(messages):
            value = _button(message, action_id)
            if value is not None and (request_id is None or value == request_id):
                return message, value
        if time.monotonic() >= deadline:
            where = f"{request_id}'s message" if request_id else f"any message in #{channel_name}"
            raise SendError(f"no {action_id!r} button on {where} after {wait_s:.0f} s")
        time.sleep(0.5)


def click(
    config: Config,
    *,
    url: str,
    secret: str | None,
    api_url: str | None,
    user: str,
    action_id: str,
    request_id: str | None = None,
    wait_s: float = 60.0,
) -> str:
    """``user`` clicks the ``action_id`` button of the newest channel message showing it (or of
    ``request_id``'s message), waiting up to ``wait_s`` for one (preflight comes first);
    returns the bot's immediate answer."""
    body, value = click_body(
        config,
        api_url=api_url,
        user=user,
        action_id=action_id,
        request_id=request_id,
        wait_s=wait_s,
    )
    return _answer(_post(url, secret, body)) or f"clicked {action_id} on {value}"


def click_body(
    config: Config,
    *,
    api_url: str | None,
    user: str,
    action_id: str,
    request_id: str | None,
    wait_s: float,
) -> tuple[str, str]:
    """The form body Slack sends when ``user`` clicks the button (found in the stand-in's
    messages, waiting up to ``wait_s``), and the button's value."""
    channel, channel_name = _channel(config)
    user_id, user_name = _user(config, user)
    base = standin_base(api_url)
    message, value = _find_button(base, channel, channel_name, action_id, request_id, wait_s)
    body = payloads.button_click(
        user_id=user_id,
        user_name=user_name,
        channel_id=channel,
        channel_name=channel_name,
        action_id=action_id,
        value=value,
        response_url=f"{base}/_response/{user_id}-{secrets.token_hex(3)}",
        message={
            "ts": message["ts"],
            "text": message.get("text") or "",
            "blocks": message["blocks"],
        },
    )
    return body, value


def _answer(response: requests.Response) -> str:
    if response.status_code != 200:
        raise SendError(f"the bot answered HTTP {response.status_code}")
    text = response.text.strip()
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return text
    return str(data.get("text", "")) if isinstance(data, dict) else text
