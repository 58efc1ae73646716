"""What ``/cloudsync logs HOST`` tells the people who asked, once the worker has answered: the
archive itself (with its own comment) is already in the channel when the upload worked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.blocks.kit import esc
from bot.help import SLASH


def logs_failed_text(data: Mapping[str, Any]) -> str:
    """The upload did not happen: why, and what to try."""
    host = esc(data.get("host", ""))
    why = esc(data.get("error") or "unknown error")
    return (
        f":warning: The logs of *{host}* were not uploaded: {why}. Check the host with "
        f"`{SLASH} check {host}`; if the upload was refused, run `cloudsync doctor`."
    )


def logs_joined_text(data: Mapping[str, Any], channel: str) -> str:
    """For someone who asked while the collection ran (maybe in another channel)."""
    host = esc(data.get("host", ""))
    return f":package: The logs of *{host}* were uploaded in <#{esc(channel)}>."
