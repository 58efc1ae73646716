"""Small readers over what the loopback Slack server recorded, shared by the Slack e2e tests."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.e2e.harness import CHANNEL, USERS, E2EStack
from workers.domain.model import Request


def buttons(message: Any) -> list[dict[str, Any]]:
    """Every button element of a message's blocks (actions blocks and section accessories)."""
    out: list[dict[str, Any]] = []
    for block in message.blocks or []:
        if block.get("type") == "actions":
            out += [e for e in block.get("elements", []) if e.get("type") == "button"]
        accessory = block.get("accessory") or {}
        if accessory.get("type") == "button":
            out.append(accessory)
    return out


def card(e2e: E2EStack, request_id: str, channel: str = CHANNEL) -> Any:
    """The request's top-level card (latest version), waiting until it is posted."""
    return e2e.wait_for(
        lambda: next(
            (
                m
                for m in e2e.slack.messages(channel)
                if m.thread_ts is None and request_id in (m.text or "")
            ),
            None,
        ),
        what=f"card of {request_id}",
    )


def card_text(message: Any) -> str:
    """The card's fallback text plus every text in its blocks (what a reader sees)."""
    return (message.text or "") + "\n" + json.dumps(message.blocks or [])


def wait_card(e2e: E2EStack, request_id: str, *needles: str, timeout: float = 30.0) -> Any:
    """Wait until the card shows every needle (edits arrive through the paced outbox)."""

    def ready() -> Any:
        message = card(e2e, request_id)
        text = card_text(message)
        return message if all(n in text for n in needles) else None

    return e2e.wait_for(ready, timeout, what=f"card of {request_id} showing {needles}")


def ack_text(response: requests.Response) -> str:
    """The text of Bolt's ack body ('' for an empty ack)."""
    if not response.content:
        return ""
    try:
        return str(response.json().get("text", ""))
    except ValueError:
        return response.text


def mark(e2e: E2EStack, user: str) -> int:
    """How many ephemerals ``user`` has seen so far (pass as ``after`` to ``reply_to``)."""
    return len(e2e.ephemerals_for(user))


def reply_to(e2e: E2EStack, user: str, needle: str, timeout: float = 30.0, after: int = 0) -> str:
    """The first ephemeral shown to ``user`` (after the first ``after``) containing ``needle``."""
    return str(
        e2e.wait_for(
            lambda: next((t for t in e2e.ephemerals_for(user)[after:] if needle in t), None),
            timeout,
            what=f"an ephemeral for {user} with {needle!r}",
        )
    )


def requests_of(e2e: E2EStack, user: str) -> list[Request]:
    return list(e2e.store.recent_of_user(USERS[user], limit=1000))


def run_count(e2e: E2EStack, host: str) -> int:
    """How many times the installer ran on a simulated host."""
    events = e2e.sim_host(host).record.to_dict()["events"]
    return sum(1 for e in events if e["event"] == "installer_run")


class ErrorLog(logging.Handler):
    """Collects ERROR records from the bot's loggers (an exception escaping a listener)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_:
            self.records.append(record)


@contextmanager
def bot_errors(*names: str) -> Iterator[ErrorLog]:
    handler = ErrorLog()
    loggers = [logging.getLogger(n) for n in (names or ("cloudsync", "slack_bolt"))]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def cli_env(e2e: E2EStack, data_dir: Path) -> dict[str, str]:
    """Environment for running the ``cloudsync`` CLI against this stack's Redis."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(
        {
            "REDIS_URL": e2e.redis_url,
            "CLOUDSYNC_CONFIG": str(e2e.config.folder),
            "CLOUDSYNC_DATA_DIR": str(data_dir),
            "CLOUDSYNC_PREFIX": e2e.settings.prefix,
            "CLOUDSYNC_LOG_FORMAT": "text",
        }
    )
    return env
