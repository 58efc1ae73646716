"""Uploading one file to a channel through Slack's external upload flow, from the worker.

Why the worker and not the notifier: a log archive must never pass through Redis or a Celery
message (it may hold what redaction could not know), and the bot and the workers share no
folder. So the worker that built the archive in memory uploads it itself, with the bot token
(``SLACK_BOT_TOKEN``) and ``SLACK_API_URL``; only a summary (names, sizes, file id) goes on the
event stream. slack_sdk's ``files_upload_v2`` runs the flow Slack documents:
files.getUploadURLExternal (name and length), a POST of the bytes to the returned URL, then
files.completeUploadExternal with the channel and the comment
(https://docs.slack.dev/reference/methods/files.getUploadURLExternal; scope ``files:write``).
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError


class UploadFailed(RuntimeError):
    """Slack refused or could not take the upload; the message names Slack's error only."""


@dataclass(frozen=True)
class SlackTarget:
    token: str
    api_url: str | None = None  # None: slack.com

    def client(self) -> WebClient:
        if self.api_url:
            return WebClient(token=self.token, base_url=self.api_url, timeout=60)
        return WebClient(token=self.token, timeout=60)


def upload_file(
    target: SlackTarget,
    *,
    channel: str,
    filename: str,
    data: bytes,
    title: str,
    comment: str,
    thread_ts: str | None = None,
) -> str:
    """Share ``data`` as ``filename`` in ``channel`` with ``comment``; the Slack file id."""
    try:
        response = target.client().files_upload_v2(
            channel=channel,
            file=data,
            filename=filename,
            title=title,
            initial_comment=comment,
            thread_ts=thread_ts,
        )
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        needed = exc.response.get("needed") if isinstance(exc.response.data, dict) else None
        detail = f" (the app needs the {needed} scope)" if needed else ""
        raise UploadFailed(f"Slack refused the upload: {error or 'error'}{detail}") from None
    except SlackRequestError:
        raise UploadFailed("Slack did not take the file's bytes") from None
    except OSError as exc:
        raise UploadFailed(f"Slack could not be reached: {type(exc).__name__}") from None
    files = response.get("files") or []
    return str(files[0].get("id", "")) if files else ""
