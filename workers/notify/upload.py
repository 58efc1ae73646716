"""Uploading one file to a channel through Slack's external upload flow, from the worker.

Why the worker and not the notifier: a log archive must never pass through Redis or a Celery
message (it may hold what redaction could not know), and the bot and the workers share no
folder. So the worker that built the archive in memory uploads it itself, with the bot token
(``SLACK_BOT_TOKEN``) and ``SLACK_API_URL``; only a summary (names, sizes, file id) goes on the
event stream. slack_sdk's ``files_upload_v2`` runs the flow Slack documents:
files.getUploadURLExternal (name and length), a POST of the bytes to the returned URL, then
files.completeUploadExternal with the channel and the comment
(https://docs.slack.dev/reference/methods/files.getUploadURLExternal; scope ``files:write``).

A refusal that passes (HTTP 429 with Retry-After, a 5xx or Slack's transient error codes, no
connection) is tried again, at most ``UPLOAD_TRIES`` times within ``UPLOAD_TIME_LIMIT_S``,
waiting what Retry-After says (https://docs.slack.dev/apis/web-api/rate-limits: "a Retry-After
HTTP header containing the number of seconds until you can retry") or a growing backoff; a
permanent one (``not_in_channel``, ``missing_scope``...) is told at once. Each try's calls get
a timeout that keeps the whole flow inside the limit, and slack_sdk's own retry is off so that
bound holds (the run's guard in the bot lasts as long: ``workers.support_logs``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

log = logging.getLogger(__name__)

UPLOAD_TRIES = 3
UPLOAD_TIME_LIMIT_S = 180.0  # every try and wait of one upload, from its first call
FLOW_CALLS = 3  # files.getUploadURLExternal, the POST of the bytes, files.completeUploadExternal
MAX_CALL_TIMEOUT_S = 60.0
MIN_CALL_TIMEOUT_S = 5.0
BACKOFF_S = (2.0, 8.0)  # before the 2nd and the 3rd try when Slack names no Retry-After
# Slack's error codes that say "try again later" (https://docs.slack.dev/apis/web-api/: each
# method's errors list ``ratelimited``, ``internal_error``, ``fatal_error``,
# ``service_unavailable``, ``request_timeout``)
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_STATUS = re.compile(r"status: (\d{3})")


class UploadFailed(RuntimeError):
    """Slack refused or could not take the upload; the message names Slack's error only."""


class _Transient(Exception):
    """A refusal worth another try, after ``wait`` seconds (None: our backoff)."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


@dataclass(frozen=True)
class SlackTarget:
    token: str
    api_url: str | None = None  # None: slack.com

    def client(self, timeout_s: float = MAX_CALL_TIMEOUT_S) -> WebClient:
        timeout = max(1, int(timeout_s))
        # no hidden retries: this module's loop decides, inside UPLOAD_TIME_LIMIT_S
        if self.api_url:
            return WebClient(
                token=self.token, base_url=self.api_url, timeout=timeout, retry_handlers=[]
            )
        return WebClient(token=self.token, timeout=timeout, retry_handlers=[])


def upload_file(
    target: SlackTarget,
    *,
    channel: str,
    filename: str,
    data: bytes,
    title: str,
    comment: str,
    thread_ts: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Share ``data`` as ``filename`` in ``channel`` with ``comment``; the Slack file id.
    Transient refusals are tried again within UPLOAD_TIME_LIMIT_S; UploadFailed otherwise."""
    deadline = clock() + UPLOAD_TIME_LIMIT_S
    for attempt in range(1, UPLOAD_TRIES + 1):
        per_call = min(MAX_CALL_TIMEOUT_S, (deadline - clock()) / FLOW_CALLS)
        try:
            return _upload_once(
                target.client(max(MIN_CALL_TIMEOUT_S, per_call)),
                channel=channel,
                filename=filename,
                data=data,
                title=title,
                comment=comment,
                thread_ts=thread_ts,
            )
        except _Transient as exc:
            wait = exc.wait if exc.wait is not None else BACKOFF_S[min(attempt, 2) - 1]
            left = deadline - clock() - wait
            if attempt == UPLOAD_TRIES or left < FLOW_CALLS * MIN_CALL_TIMEOUT_S:
                raise UploadFailed(_told(str(exc), exc.wait, attempt)) from None
            log.info("upload to %s: %s; try %d in %.0f s", channel, exc, attempt + 1, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises


def _told(message: str, retry_after: float | None, tries: int) -> str:
    after = f"; Slack asks to wait {retry_after:.0f} s" if retry_after else ""
    return f"{message} ({tries} {'try' if tries == 1 else 'tries'}{after})"


def _upload_once(
    client: WebClient,
    *,
    channel: str,
    filename: str,
    data: bytes,
    title: str,
    comment: str,
    thread_ts: str | None,
) -> str:
    try:
        response = client.files_upload_v2(
            channel=channel,
            file=data,
            filename=filename,
            title=title,
            initial_comment=comment,
            thread_ts=thread_ts,
        )
    except SlackApiError as exc:
        body = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = body.get("error")
        status = int(exc.response.status_code or 0)
        if status == 429 or status >= 500 or error in TRANSIENT_ERRORS:
            raise _Transient(
                f"Slack refused the upload: {error or status}", _retry_after(exc)
            ) from None
        needed = body.get("needed")
        detail = f" (the app needs the {needed} scope)" if needed else ""
        raise UploadFailed(f"Slack refused the upload: {error or 'error'}{detail}") from None
    except SlackRequestError as exc:
        # the POST of the bytes answered non-200; slack_sdk puts its status in the message
        found = _STATUS.search(str(exc))
        code = int(found.group(1)) if found else 0
        if code == 429 or code >= 500:
            raise _Transient(f"Slack did not take the file's bytes (HTTP {code})") from None
        raise UploadFailed("Slack did not take the file's bytes") from None
    except OSError as exc:
        raise _Transient(f"Slack could not be reached: {type(exc).__name__}") from None
    files = response.get("files") or []
    return str(files[0].get("id", "")) if files else ""


def _retry_after(exc: SlackApiError) -> float | None:
    headers = {str(k).lower(): v for k, v in (exc.response.headers or {}).items()}
    raw = headers.get("retry-after")
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except (TypeError, ValueError):
        return None
