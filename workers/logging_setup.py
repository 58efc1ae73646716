"""Logs as JSON lines, each with the request id, host and step in force (context variables set by
the Celery task and the runner), every line passed through redaction."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workers.settings import Settings

current_request: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "cloudsync_request", default=None
)


current_host: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "cloudsync_host", default=None
)
current_step: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "cloudsync_step", default=None
)


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    token = current_request.set(request_id)
    try:
        yield
    finally:
        current_request.reset(token)


@contextmanager
def log_context(
    *, request_id: str | None = None, host: str | None = None, step: str | None = None
) -> Iterator[None]:
    """Name the request (when given), host and step for every line logged inside. A thread pool
    does not carry context variables into its threads: the runner sets them in each host's
    thread; on leaving, the previous values come back (a pool thread starts clean again)."""
    tokens: list[tuple[contextvars.ContextVar[str | None], contextvars.Token[str | None]]] = []
    if request_id is not None:
        tokens.append((current_request, current_request.set(request_id)))
    tokens.append((current_host, current_host.set(host)))
    tokens.append((current_step, current_step.set(step)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def set_step(step: str | None) -> None:
    """The step now running in this host's thread (undone when its ``log_context`` ends)."""
    current_step.set(step)


class RequestIdFilter(logging.Filter):
    """Adds request_id, host and step from the context variables to each record (a value given
    with ``extra=`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request.get()
        for key, var in (("host", current_host), ("step", current_step)):
            if getattr(record, key, None) is None:
                value = var.get()
                if value is not None:
                    setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key in ("host", "step", "event"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already rendered (and redacted) by the redaction filter
            data["exc"] = record.exc_text
        return json.dumps(data, default=str)


def setup_logging(
    settings: Settings | None = None, level: int = logging.INFO, path: Path | None = None
) -> None:
    """JSON lines on stderr, or in ``path`` (the local console keeps its terminal for Slack)."""
    from workers.domain.redact import install_log_redaction

    root = logging.getLogger()
    if any(getattr(h, "_cloudsync", False) for h in root.handlers):
        return
    handler: logging.Handler
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    setattr(handler, "_cloudsync", True)  # noqa: B010  (marks our handler: set up once)
    fmt = settings.log_format if settings else "json"
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level)
    install_log_redaction()
