"""Keep secret values out of every text the bot writes: logs, Slack messages, errors.

The secrets provider registers each value it resolves with :data:`default_redactor`; anything that
turns remote output or exceptions into text passes it through :meth:`Redactor.redact`. Encoded
forms are learned too, because a value can come back base64'd (an -EncodedCommand), UTF-16LE
base64'd, JSON-escaped (a stdin frame) or XML-escaped (CLIXML).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from xml.sax.saxutils import escape as xml_escape

MASK = "********"


def _forms(value: str) -> set[str]:
    forms = {value}
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.add(xml_escape(value, {'"': "&quot;", "'": "&apos;"}))
    for raw in (value.encode("utf-8"), value.encode("utf-16-le")):
        forms.add(base64.b64encode(raw).decode("ascii"))
    return {f for f in forms if f}


class Redactor:
    """Replaces every learned secret (and its encoded forms) with ``********``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: list[str] = []

    def add(self, value: str) -> None:
        if not value:
            return
        with self._lock:
            known = set(self._forms)
            known.update(_forms(value))
            # Longest first, so a secret that contains another is masked whole.
            self._forms = sorted(known, key=len, reverse=True)

    def redact(self, text: str) -> str:
        if not text:
            return text
        with self._lock:
            forms = list(self._forms)
        for form in forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def __contains__(self, value: str) -> bool:
        with self._lock:
            return value in self._forms


default_redactor = Redactor()


class RedactingFilter(logging.Filter):
    """Renders the message, masks it, and drops args (they may hold secrets in any form)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not leak args through the fallback
            message = str(record.msg)
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info:
            record.exc_text = self.redactor.redact(
                logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True


def install_log_redaction(redactor: Redactor | None = None) -> RedactingFilter:
    """Attach a redacting filter to the root logger and to each of its handlers.

    Logger filters do not see records propagated from child loggers, handler filters do; so both
    are set. Call again after adding handlers (it is idempotent per handler).
    """
    chosen = redactor or default_redactor
    root = logging.getLogger()
    filt = next(
        (f for f in root.filters if isinstance(f, RedactingFilter) and f.redactor is chosen),
        None,
    )
    if filt is None:
        filt = RedactingFilter(chosen)
        root.addFilter(filt)
    for handler in root.handlers:
        if filt not in handler.filters:
            handler.addFilter(filt)
    return filt
