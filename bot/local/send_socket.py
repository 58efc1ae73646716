"""Slash commands and button clicks for a bot in Socket Mode (``cloudsync serve`` with
SLACK_APP_TOKEN), delivered through the Slack stand-in's WebSocket as Slack would deliver them.

The stand-in (``cloudsync slack-standin``, at ``SLACK_API_URL``) holds the bot's Socket Mode
connection; this asks it to send an envelope (``POST /_loopback/socket/slash_command`` or
``/interactive``) and waits for the bot's ack (``GET /_loopback/socket/envelopes``): the ack's
payload is what Slack would show the user at once. Nothing is signed: Socket Mode requests are
not (https://docs.slack.dev/apis/events-api/using-socket-mode), the connection is the proof.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl

import requests

from bot.local.send import TIMEOUT_S, SendError, click_body, command_body, standin_base
from workers.domain.config import Config

ACK_WAIT_S = 30.0  # a connection may be reconnecting: the stand-in keeps the envelope meanwhile


def _deliver(base: str, kind: str, payload: dict[str, Any], wait_s: float) -> dict[str, Any]:
    """Send one envelope through the stand-in and return its record once acked."""
    try:
        sent = requests.post(f"{base}/_loopback/socket/{kind}", json=payload, timeout=TIMEOUT_S)
        envelope_id = str(sent.json()["envelope_id"])
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise SendError(f"cannot deliver through the stand-in at {base}") from exc
    deadline = time.monotonic() + wait_s
    while True:
        try:
            found = requests.get(
                f"{base}/_loopback/socket/envelopes",
                params={"envelope_id": envelope_id},
                timeout=TIMEOUT_S,
            ).json()
        except (requests.RequestException, ValueError) as exc:
            raise SendError(f"cannot read the stand-in's envelopes at {base}") from exc
        record = found[0] if found else {}
        if record.get("missed"):
            raise SendError(
                "the bot did not acknowledge within 3 s (Slack shows the user an error)"
            )
        if record.get("acked_at") is not None:
            return dict(record)
        if time.monotonic() >= deadline:
            raise SendError(
                f"no Socket Mode connection took the {kind} after {wait_s:.0f} s: is the bot "
                "running with SLACK_APP_TOKEN and SLACK_API_URL of this stand-in?"
            )
        time.sleep(0.2)


def _answer(record: dict[str, Any]) -> str:
    payload = record.get("ack_payload") or {}
    return str(payload.get("text") or "") if isinstance(payload, dict) else ""


def send_command_socket(
    config: Config, *, api_url: str | None, user: str, text: str, wait_s: float = ACK_WAIT_S
) -> str:
    """``/cloudsync TEXT`` from ``user`` over Socket Mode; returns the bot's ack text."""
    body = command_body(config, api_url=api_url, user=user, text=text)
    fields = dict(parse_qsl(body, keep_blank_values=True))  # the same fields HTTP mode posts
    record = _deliver(standin_base(api_url), "slash_command", fields, wait_s)
    return _answer(record) or "sent (the bot answers in the channel)"


def click_socket(
    config: Config,
    *,
    api_url: str | None,
    user: str,
    action_id: str,
    request_id: str | None = None,
    wait_s: float = 60.0,
) -> str:
    """``user`` clicks the ``action_id`` button of the newest channel message showing it (or of
    ``request_id``'s), over Socket Mode; waits up to ``wait_s`` for the button to appear."""
    body, value = click_body(
        config,
        api_url=api_url,
        user=user,
        action_id=action_id,
        request_id=request_id,
        wait_s=wait_s,
    )
    payload = json.loads(dict(parse_qsl(body))["payload"])
    record = _deliver(standin_base(api_url), "interactive", payload, ACK_WAIT_S)
    return _answer(record) or f"clicked {action_id} on {value}"
