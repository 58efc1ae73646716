"""Keep secret values out of every text the bot writes: logs, Slack messages, errors.

The secrets provider registers each value it resolves with :data:`default_redactor`; anything that
turns remote output or exceptions into text passes it through :meth:`Redactor.redact`. Encoded
forms are learned too, because a value can come back base64'd (an -EncodedCommand), UTF-16LE
base64'd, JSON-escaped (a stdin frame) or XML-escaped (CLIXML).

A value is masked where it stands as a value, not inside a longer word: "Provision1" is masked
in ``pwd=Provision1;`` or ``'Provision1'`` but not in "Provision10". The edges count only where
the value itself begins or ends with a letter or digit, and ``_`` is an edge (CLIXML writes a
line break as ``_x000D_`` right after the text), as is the end of an escape (``\\n``, `` `n ``,
``%20``, ``\\u00e9``) right before it. Base64 forms are masked anywhere: they are
never ordinary words, and an aligned one can sit inside a longer base64 text. The secrets
provider refuses values shorter than 8 characters, so no short word can be a secret.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from xml.sax.saxutils import escape as xml_escape

MASK = "********"
_WORD_CHAR = re.compile(r"[^\W_]")  # a letter or digit (any script), not "_"
# Not after a letter or digit, unless that one ends an escape: a backslash escape (n, t, u00e9),
# PowerShell's backtick escape (`n), or %XX glue their last character to what follows, which
# is then a value's start (text read back from JSON, a log, a URL).
_NOT_AFTER_WORD = (
    r"(?:(?<![^\W_])|(?<=\\[^\W_])|(?<=`[^\W_])|(?<=%[0-9A-Fa-f]{2})"
    r"|(?<=\\u[0-9A-Fa-f]{4}))"
)
_NOT_BEFORE_WORD = r"(?![^\W_])"


def _text_forms(value: str) -> set[str]:
    forms = {value}
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.add(xml_escape(value, {'"': "&quot;", "'": "&apos;"}))
    return {f for f in forms if f}


def _encoded_forms(value: str) -> set[str]:
    raws = (value.encode("utf-8"), value.encode("utf-16-le"))
    return {base64.b64encode(raw).decode("ascii") for raw in raws if raw}


def _forms(value: str) -> set[str]:
    return _text_forms(value) | _encoded_forms(value)


def _token_pattern(form: str) -> str:
    """``form`` not glued to a letter or digit on a side where it has one itself."""
    head = _NOT_AFTER_WORD if _WORD_CHAR.match(form[0]) else ""
    tail = _NOT_BEFORE_WORD if _WORD_CHAR.match(form[-1]) else ""
    return head + re.escape(form) + tail


class Redactor:
    """Replaces every learned secret (and its encoded forms) with ``********``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: list[str] = []
        self._tokens: set[str] = set()  # the forms matched as whole tokens
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        if not value:
            return
        with self._lock:
            known = set(self._forms)
            known.update(_forms(value))
            self._tokens.update(_text_forms(value))
            # Longest first, so a secret that contains another is masked whole.
            self._forms = sorted(known, key=len, reverse=True)
            parts = [
                _token_pattern(form) if form in self._tokens else re.escape(form)
                for form in self._forms
            ]
            self._pattern = re.compile("|".join(parts))

    def redact(self, text: str) -> str:
        if not text:
            return text
        with self._lock:
            pattern = self._pattern
        if pattern is None:
            return text
        return pattern.sub(MASK, text)

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
