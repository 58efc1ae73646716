"""Slack request bodies as Slack sends them (form-encoded slash commands, interaction payloads).

The local console, the end-to-end tests and the benchmarks all drive the real Bolt app with
these, signed by ``bot.local.signing``; one builder keeps them identical to each other and to Slack.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

TEAM = {"id": "T01DEMO", "domain": "demo"}
APP_ID = "A01CLOUDSYNC"


def user_object(user_id: str, name: str) -> dict[str, str]:
    return {"id": user_id, "username": name, "name": name, "team_id": TEAM["id"]}


def slash_command(
    *,
    user_id: str,
    user_name: str,
    channel_id: str,
    channel_name: str,
    text: str,
    response_url: str,
) -> str:
    return urlencode(
        {
            "token": "unused",  # the deprecated verification token: never used to authenticate
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": "/cloudsync",
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"trigger-{secrets.token_hex(4)}",
        }
    )


def button_click(
    *,
    user_id: str,
    user_name: str,
    channel_id: str,
    channel_name: str,
    action_id: str,
    value: str,
    response_url: str,
    message: dict[str, Any] | None = None,
    block_id: str = "decide",
) -> str:
    payload = {
        "type": "block_actions",
        "user": user_object(user_id, user_name),
        "api_app_id": APP_ID,
        "token": "unused",
        "container": {
            "type": "message",
            "message_ts": (message or {}).get("ts", "1"),
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": f"trigger-{secrets.token_hex(4)}",
        "team": TEAM,
        "channel": {"id": channel_id, "name": channel_name},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if message is not None:
        payload["message"] = message
    return urlencode({"payload": json.dumps(payload)})


def home_click(*, user_id: str, user_name: str, action_id: str, value: str) -> str:
    """A button click in the App Home tab: its container is the view, and (unlike a message
    click) it carries neither a channel nor a response_url
    (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload)."""
    payload = {
        "type": "block_actions",
        "user": user_object(user_id, user_name),
        "api_app_id": APP_ID,
        "token": "unused",
        "container": {"type": "view", "view_id": f"V{secrets.token_hex(4).upper()}"},
        "trigger_id": f"trigger-{secrets.token_hex(4)}",
        "team": TEAM,
        "view": {"type": "home", "id": "VHOME", "callback_id": "", "private_metadata": ""},
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"home:{value}",
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def view_submission(
    *,
    user_id: str,
    user_name: str,
    callback_id: str,
    private_metadata: str,
    values: dict[str, dict[str, dict[str, Any]]],
) -> str:
    payload = {
        "type": "view_submission",
        "user": user_object(user_id, user_name),
        "api_app_id": APP_ID,
        "token": "unused",
        "team": TEAM,
        "trigger_id": f"trigger-{secrets.token_hex(4)}",
        "view": {
            "id": f"V{secrets.token_hex(4).upper()}",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
        },
    }
    return urlencode({"payload": json.dumps(payload)})


def app_home_opened(user_id: str) -> str:
    """The Events API delivery of a user opening the app's Home tab (a JSON body)."""
    return json.dumps(
        {
            "team_id": TEAM["id"],
            "api_app_id": APP_ID,
            "type": "event_callback",
            "event_id": f"Ev{time.time_ns()}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": user_id,
                "channel": "D01",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        }
    )
