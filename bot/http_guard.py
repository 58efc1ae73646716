"""HTTP mode's front door: cap the body and check Slack's signature on the raw bytes before
anything parses them.

Bolt's WSGI adapter builds a ``BoltRequest`` from the body, and ``BoltRequest.__init__`` parses
the JSON or form body before Bolt's ``RequestVerification`` middleware checks the signature
(slack_bolt 1.x, ``request/request.py``); that middleware also logs the whole body of a request
whose signature fails. So an unsigned, deeply nested JSON body reached ``json.loads`` (a
RecursionError, HTTP 500) and every unsigned body landed in the log. This middleware runs first:
an oversized body is refused with 413 without being read, an unsigned or stale one with 401, each
logged in one line without its body; only verified bytes reach Bolt (which verifies again).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

# Slack's largest payloads to us are block_actions from App Home and view_submission, which
# carry the whole view; a view is at most 250 kB (views.publish/views.open fail with
# view_too_large above that: https://docs.slack.dev/reference/methods/views.publish), and the
# form encoding of its JSON (payload=...) can triple that. 1 MiB leaves room and bounds memory.
MAX_BODY_BYTES = 1024 * 1024

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


def _refuse(start_response: Any, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class SignedBodyGuard:
    """WSGI middleware in front of Bolt's handler for POST requests."""

    def __init__(
        self, app: WsgiApp, signing_secret: str, *, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.verifier = SignatureVerifier(signing_secret)
        self.max_body_bytes = max_body_bytes

    def _log(self, environ: dict[str, Any], reason: str, size: int | str) -> None:
        log.warning(
            "refused Slack request: %s (path %s, %s bytes, from %s)",
            reason,
            environ.get("PATH_INFO", ""),
            size,
            environ.get("REMOTE_ADDR", "?"),
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") != "POST":
            return self.app(environ, start_response)
        declared = environ.get("CONTENT_LENGTH") or ""
        try:
            length = int(declared) if declared else -1
        except ValueError:
            self._log(environ, "bad Content-Length", "?")
            return _refuse(start_response, "400 Bad Request", "bad request")
        if length > self.max_body_bytes:
            self._log(environ, "body too large", length)
            return _refuse(start_response, "413 Payload Too Large", "payload too large")
        stream = environ["wsgi.input"]
        if length < 0 and not environ.get("wsgi.input_terminated"):
            # no length and a stream that may never end (gunicorn marks a chunked body it
            # decodes as terminated; a plain server does not)
            self._log(environ, "no Content-Length", "?")
            return _refuse(start_response, "411 Length Required", "length required")
        raw = stream.read(length) if length >= 0 else stream.read(self.max_body_bytes + 1)
        if len(raw) > self.max_body_bytes:
            self._log(environ, "body too large", f">{self.max_body_bytes}")
            return _refuse(start_response, "413 Payload Too Large", "payload too large")
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        try:
            valid = bool(timestamp and signature) and self.verifier.is_valid(
                raw, timestamp, signature
            )
        except ValueError:  # a timestamp that is not a number
            valid = False
        if not valid:
            self._log(environ, "invalid signature or timestamp", len(raw))
            return _refuse(start_response, "401 Unauthorized", "invalid request")
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
        return self.app(environ, start_response)


def slack_wsgi(app: Any, signing_secret: str) -> WsgiApp:
    """Bolt's WSGI handler behind the guard: what HTTP mode (and the e2e harness) serves."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    return SignedBodyGuard(SlackRequestHandler(app), signing_secret)
