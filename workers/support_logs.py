"""``/cloudsync logs HOST``: collect on the host, pack and redact on the worker, upload to the
channel; the answer recorded for the bot is a summary (names, sizes, what was cut), never the
logs themselves."""

from __future__ import annotations

import logging
import time
from typing import Any

from workers.domain.config import Config
from workers.domain.redact import default_redactor
from workers.domain.secrets import SecretsProvider
from workers.notify.upload import UPLOAD_TIME_LIMIT_S, SlackTarget, UploadFailed, upload_file
from workers.runbook.fleet import _why as why_failed  # the fleet reads' words for a failure
from workers.runbook.fleet import learn_every_secret
from workers.runbook.trace_logs import (
    COLLECT_TIMEOUT_S,
    build_archive,
    collect,
    comment,
    since_words,
)
from workers.settings import Settings

log = logging.getLogger(__name__)

SESSION_MARGIN_S = 30.0  # opening and closing the WinRM shell, packing and redacting the zip
# The longest one collection runs: the host's read, then the upload with its retries. The bot's
# one-collection-per-host guard lasts this long (a worker that dies mid-way frees the host then),
# and the answer releases it earlier.
LOGS_TIME_LIMIT_S = COLLECT_TIMEOUT_S + SESSION_MARGIN_S + UPLOAD_TIME_LIMIT_S


def collect_and_upload(
    config: Config,
    secrets: SecretsProvider,
    settings: Settings,
    host: str,
    since_s: int,
    channel: str,
) -> dict[str, Any]:
    """``{"host", "since", "ok", ...}``: on success the archive's summary and the Slack file id,
    else ``error`` (redacted: the host's words, never a secret)."""
    base: dict[str, Any] = {"host": host, "since": since_words(since_s)}
    if not settings.slack_bot_token:
        return {**base, "ok": False, "error": "the worker has no Slack token (SLACK_BOT_TOKEN)"}
    target = SlackTarget(settings.slack_bot_token, settings.slack_api_url)
    try:
        conf = config.host(host)
        login = secrets.get(conf.credential)  # resolved: its value is masked from here on
        collected = collect(conf, login, since_s)
        learn_every_secret(config, secrets)
        archive = build_archive(collected, default_redactor, time.strftime("%Y%m%d-%H%M%S"))
    except Exception as exc:
        return {**base, "ok": False, "error": why_failed(exc, host)}
    try:
        file_id = upload_file(
            target,
            channel=channel,
            filename=archive.filename,
            data=archive.data,
            title=f"Agent logs of {host}",
            comment=comment(archive.summary),
        )
    except UploadFailed as exc:
        log.warning("uploading the logs of %s failed: %s", host, exc)
        return {**base, "ok": False, "error": str(exc), "summary": archive.summary}
    return {**base, "ok": True, "file_id": file_id, "summary": archive.summary}
