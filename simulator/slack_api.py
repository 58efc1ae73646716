"""A loopback stand-in for the Slack Web API (slack.com is unreachable here).

The console, the tests and the benchmarks point ``slack_sdk.WebClient(base_url=server.api_url)``
at it. It answers the handful of methods the bot uses the way Slack does, records every call and
keeps a small message model (channels, threads, edits), and can misbehave on demand (429 with
Retry-After, 5xx, dropped connections, Slack's per-channel posting limit) so the notifier's
retry and pacing logic is exercised against real sockets. It is also Socket Mode's far end:
``apps.connections.open`` answers with a WebSocket URL on this same port, served by
``simulator.slack_socket`` (``socket_mode``), through which tests deliver envelopes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from simulator.slack_socket import APP_ID, SocketModeHub

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]

BOT_IDENTITY: JsonDict = {
    "url": "https://demo.slack.com/",
    "team": "Demo",
    "user": "cloudsync",
    "team_id": "T01DEMO",
    "user_id": "UBOT",
    "bot_id": "BBOT",
    "is_enterprise_install": False,
}
# Fields slack_sdk may send as JSON strings in form bodies; decoded so records are uniform.
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata", "files")
_TRANSIENT_ERRORS = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable"}
# The scopes a correctly installed cloudsync app holds; Slack names them in the ``x-oauth-scopes``
# header of every Web API answer (https://docs.slack.dev/authentication/tokens).
DEFAULT_SCOPES = (
    "chat:write",
    "commands",
    "channels:read",
    "groups:read",
    "usergroups:read",
    "files:write",
)
# Per-method rate-limit tiers, requests per minute per workspace
# (https://docs.slack.dev/apis/web-api/rate-limits: Tier 1 1+, Tier 2 20+, Tier 3 50+, Tier 4
# 100+). chat.postMessage is "special" (about 1/s per channel): the per-channel bucket below.
TIER_PER_MINUTE: dict[str, int] = {
    "auth.test": 100,
    "chat.update": 50,
    "chat.postEphemeral": 100,
    "files.getUploadURLExternal": 100,  # Tier 4 (https://api.slack.com/methods/files.getUploadURLExternal)
    "conversations.info": 50,
    "users.info": 100,
    "usergroups.users.list": 20,
    "views.open": 100,
    "views.publish": 100,
}
# chat.postMessage: text beyond 40,000 characters answers ``msg_too_long``
# (https://docs.slack.dev/reference/methods/chat.postMessage).
MAX_TEXT_CHARS = 40_000
# A response_url takes up to 5 posts within 30 minutes of the interaction
# (https://docs.slack.dev/interactivity/handling-user-interaction#message_responses).
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL_S = 30 * 60
MESSAGE_MAX_BLOCKS = 50  # Block Kit's limits: see block_kit_errors
# Methods called with an app-level token (xapp-), not the bot's: apps.connections.open needs one
# holding ``connections:write`` (https://docs.slack.dev/reference/methods/apps.connections.open,
# https://docs.slack.dev/reference/scopes/connections.write).
APP_LEVEL_METHODS = {"apps.connections.open": "connections:write"}
SOCKET_PATH = "/link/"  # as in Slack's wss://wss.slack.com/link/?ticket=... URLs
VIEW_MAX_BLOCKS = 100


# LOOPBACK_SLACK_RECORD=PATH: every loopback server of the process (and of its children, which
# inherit it) appends each call it handled to PATH as one JSON line {"method", "args", "ok"}, so
# a test or an operator can read what a console or bot in another process sent.
RECORD_ENV = "LOOPBACK_SLACK_RECORD"


class CallFile:
    """A subscriber that appends each call to a file as a JSON line (the token is never in a
    call); O_APPEND keeps lines of several processes whole."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def __call__(self, call: Call, message: Any = None) -> None:
        line = json.dumps(
            {"method": call.method, "args": call.args, "ok": call.ok}, default=str
        ).encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line + b"\n")
            finally:
                os.close(fd)


@dataclass
class Call:
    """One request the server handled (the token is never recorded)."""

    method: str
    args: JsonDict
    at: float
    status: int
    ok: bool = True
    error: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    ts: str | None = None

    def to_dict(self) -> JsonDict:
        return asdict(self)


@dataclass
class Message:
    """A message as a channel shows it; ``edits`` keeps earlier versions (oldest first)."""

    channel: str
    ts: str
    text: str | None
    blocks: list[Any] | None
    user: str = "UBOT"
    thread_ts: str | None = None
    reply_broadcast: bool = False
    edits: list[JsonDict] = field(default_factory=list)

    def to_dict(self) -> JsonDict:
        return asdict(self)

    def to_slack(self) -> JsonDict:
        """The ``message`` object Slack returns in API answers."""
        out: JsonDict = {
            "type": "message",
            "user": self.user,
            "bot_id": BOT_IDENTITY["bot_id"],
            "ts": self.ts,
            "text": self.text or "",
        }
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        return out


@dataclass
class Ephemeral:
    channel: str
    user: str
    text: str | None
    blocks: list[Any] | None
    message_ts: str
    thread_ts: str | None = None

    def to_dict(self) -> JsonDict:
        return asdict(self)


@dataclass
class ResponsePost:
    """A POST to a response_url: its JSON body (text, blocks, response_type, replace_original)."""

    name: str
    body: JsonDict
    at: float

    def to_dict(self) -> JsonDict:
        return asdict(self)


@dataclass
class Upload:
    """One file of Slack's external upload flow: announced (files.getUploadURLExternal), its
    bytes POSTed to the upload URL, then shared (files.completeUploadExternal)."""

    file_id: str
    filename: str
    length: int
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None
    initial_comment: str | None = None
    thread_ts: str | None = None
    completed: bool = False


@dataclass
class _FailRule:
    method: str | None
    status: int
    retry_after: float
    remaining: int | None  # None: until ``until``
    until: float | None

    def live(self, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        return self.remaining is None or self.remaining > 0

    def matches(self, method: str, now: float) -> bool:
        return (self.method is None or self.method == method) and self.live(now)


class _Bucket:
    """Token bucket per channel, for Slack's ~1 post/s/channel limit."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens: dict[str, float] = {}
        self.stamp: dict[str, float] = {}

    def take(self, channel: str, now: float) -> float:
        """Take a token; return 0 on success, else seconds until one is available."""
        tokens = self.tokens.get(channel, float(self.burst))
        tokens = min(float(self.burst), tokens + (now - self.stamp.get(channel, now)) * self.rate)
        self.stamp[channel] = now
        if tokens >= 1.0:
            self.tokens[channel] = tokens - 1.0
            return 0.0
        self.tokens[channel] = tokens
        return (1.0 - tokens) / self.rate


class _Reply:
    """What the dispatcher wants written back; ``None`` body means drop the connection."""

    def __init__(
        self,
        status: int,
        body: bytes | None,
        content_type: str = "application/json; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}


def _json_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(data).encode(), headers=headers)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


Subscriber = Callable[[Call, Message | None], None]


class _TierLimiter:
    """A sliding one-minute window per method, for Slack's per-method tiers (``window_s`` lets a
    test compress the minute)."""

    def __init__(self, per_minute: dict[str, int], window_s: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self.seen: dict[str, list[float]] = {}

    def take(self, method: str, now: float) -> float:
        """Count a call; return 0 when allowed, else seconds until the window has room."""
        limit = self.per_minute.get(method)
        if limit is None:
            return 0.0
        window = [t for t in self.seen.get(method, []) if now - t < self.window_s]
        self.seen[method] = window
        if len(window) >= limit:
            return self.window_s - (now - window[0])
        window.append(now)
        return 0.0


class LoopbackSlack:
    """The loopback Slack Web API server. All state is guarded by one re-entrant lock."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        member_of: Iterable[str] = (),
        scopes: Iterable[str] = DEFAULT_SCOPES,
    ) -> None:
        """``member_of``: the channels the bot has been invited to. As in a real workspace, the
        bot posts only where it is a member (``not_in_channel`` elsewhere) unless it holds
        ``chat:write.public`` (public channels only)."""
        self._host, self._port = host, port
        self.member_of: set[str] = set(member_of)
        self.archived_channels: set[str] = set()
        self.private_channels: set[str] = set()
        self.channel_names: dict[str, str] = {}
        self.revoked_tokens: set[str] = set()
        self.scopes: list[str] = list(scopes)
        self.response_url_uses = RESPONSE_URL_USES
        self.response_url_ttl_s: float = RESPONSE_URL_TTL_S
        self._response_urls: dict[str, list[float]] = {}  # name -> [issued_at, uses]
        self._tiers: _TierLimiter | None = None
        self._lock = threading.RLock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._seq = 0
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, JsonDict] = {}
        self.missing_channels: set[str] = set()
        self.calls: list[Call] = []
        self.ephemerals: list[Ephemeral] = []
        self.home_views: dict[str, JsonDict] = {}
        self.opened_views: list[JsonDict] = []
        self.response_posts: list[ResponsePost] = []
        self.uploads: dict[str, Upload] = {}  # file id -> the upload (its bytes for tests)
        self._messages: dict[str, list[Message]] = {}
        self._by_ts: dict[tuple[str, str], Message] = {}
        self._rules: list[_FailRule] = []
        self._unreachable_until: float | None = None
        self._bucket: _Bucket | None = None
        self._subscribers: list[Subscriber] = []
        self.app_tokens: dict[str, set[str]] = {}  # app-level token -> its scopes
        self.socket_mode = SocketModeHub()
        record = os.environ.get(RECORD_ENV)
        if record:  # every call also as a JSON line, for a reader in another process
            self.subscribe(CallFile(record))

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LoopbackSlack:
        if self._httpd is not None:
            return self
        self._httpd = _Server((self._host, self._port), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = f"loopback-slack-{self.port}"
        self._thread.start()
        self.socket_mode.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.socket_mode.stop()  # close frames first: Socket Mode clients then reconnect
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> LoopbackSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The value for ``WebClient(base_url=...)`` (ends with a slash, as slack_sdk wants)."""
        return f"{self.base_url}/api/"

    def add_app_token(self, token: str, scopes: Iterable[str] = ("connections:write",)) -> None:
        """An app-level token (``xapp-``) of this app, as generated under Basic Information."""
        with self._lock:
            self.app_tokens[token] = set(scopes)

    def response_url(self, name: str) -> str:
        """A response_url on this server; posts to it land in ``response_posts`` under ``name``.
        Like Slack's, it takes ``response_url_uses`` posts within ``response_url_ttl_s``."""
        with self._lock:
            self._response_urls.setdefault(name, [time.monotonic(), 0])
        return f"{self.base_url}/_response/{name}"

    # -- workspace membership ------------------------------------------------------------
    def invite(self, *channels: str) -> None:
        """``/invite @cloudsync`` in each channel."""
        with self._lock:
            self.member_of.update(channels)

    def kick(self, *channels: str) -> None:
        """Remove the bot from each channel."""
        with self._lock:
            self.member_of.difference_update(channels)

    def archive(self, *channels: str) -> None:
        with self._lock:
            self.archived_channels.update(channels)

    def revoke(self, token: str) -> None:
        """Revoke ``token`` (the app was uninstalled or the token rotated)."""
        with self._lock:
            self.revoked_tokens.add(token)

    # -- failure modes ---------------------------------------------------------------------
    def fail(
        self,
        method: str | None = None,
        status: int = 429,
        retry_after: float = 1,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` (None: any API method) with ``status``."""
        with self._lock:
            self._rules.append(_FailRule(method, status, retry_after, count, None))

    def fail_for(
        self, seconds: float, status: int = 503, method: str | None = None, retry_after: float = 1
    ) -> None:
        """Answer every matching call with ``status`` for the next ``seconds``."""
        with self._lock:
            until = time.monotonic() + seconds
            self._rules.append(_FailRule(method, status, retry_after, None, until))

    def unreachable(self, seconds: float | None = None) -> None:
        """Accept connections but close them unanswered for ``seconds`` (None: until reachable)."""
        with self._lock:
            self._unreachable_until = math.inf if seconds is None else time.monotonic() + seconds

    def reachable(self) -> None:
        with self._lock:
            self._unreachable_until = None

    def enforce_rate(self, per_channel_per_s: float | None = 1.0, burst: int = 2) -> None:
        """Answer 429 to chat.postMessage beyond ``per_channel_per_s`` per channel (None: off)."""
        with self._lock:
            self._bucket = None if per_channel_per_s is None else _Bucket(per_channel_per_s, burst)

    def enforce_tiers(
        self, per_minute: dict[str, int] | None = None, on: bool = True, window_s: float = 60.0
    ) -> None:
        """Answer 429 with Retry-After beyond each method's tier (``TIER_PER_MINUTE`` updated
        with ``per_minute``, per ``window_s``); ``on=False`` turns it off."""
        with self._lock:
            limits = {**TIER_PER_MINUTE, **(per_minute or {})}
            self._tiers = _TierLimiter(limits, window_s) if on else None

    # -- inspection ------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(call, message_or_None)`` for every recorded call, in handling order."""
        with self._lock:
            self._subscribers.append(callback)

    def calls_for(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def messages(self, channel: str) -> list[Message]:
        """Every message in ``channel`` (top level and replies) in posting order, as copies."""
        with self._lock:
            return copy.deepcopy(self._messages.get(channel, []))

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The parent followed by its replies (like conversations.replies)."""
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._messages.get(channel, [])
                if m.ts == ts or m.thread_ts == ts
            ]

    def restore_message(
        self, channel: str, ts: str, text: str | None, blocks: list[Any] | None
    ) -> Message:
        """Put back a message a real workspace would still hold (posted by an earlier run of a
        restarted stand-in, at ``ts``), so it can be clicked and updated again; no call is
        recorded. Later messages get later timestamps."""
        with self._lock:
            message = Message(channel, ts, text, blocks)
            known = self._by_ts.get((channel, ts))
            if known is not None:
                self._messages[channel].remove(known)
            self._messages.setdefault(channel, []).append(message)
            self._messages[channel].sort(key=lambda m: float(m.ts))
            self._by_ts[(channel, ts)] = message
            with contextlib.suppress(ValueError):
                seconds, _, micros = ts.partition(".")
                seq = ((int(seconds) - 1700000000) * 1_000_000 + int(micros or 0)) // 100
                self._seq = max(self._seq, seq)
            return copy.deepcopy(message)

    def clear(self) -> None:
        """Forget everything recorded (calls, messages, ephemerals, views, response posts)."""
        with self._lock:
            self.calls.clear()
            self.ephemerals.clear()
            self.home_views.clear()
            self.opened_views.clear()
            self.response_posts.clear()
            self.uploads.clear()
            self._messages.clear()
            self._by_ts.clear()
            self.socket_mode.clear()

    def reset(self) -> None:
        """``clear()`` plus every failure mode and the rate limiter off."""
        with self._lock:
            self.clear()
            self._rules.clear()
            self._unreachable_until = None
            self._bucket = None
            self._tiers = None

    # -- request handling (called by the HTTP handler threads) ------------------------------
    def _record(self, call: Call, message: Message | None = None) -> None:
        self.calls.append(call)
        for callback in list(self._subscribers):
            try:
                callback(call, message)
            except Exception:
                log.exception("loopback slack subscriber failed")

    def _is_unreachable(self) -> bool:
        until = self._unreachable_until
        if until is None:
            return False
        if time.monotonic() >= until:
            self._unreachable_until = None
            return False
        return True

    def _next_ts(self) -> str:
        self._seq += 1
        micros = self._seq * 100
        return f"{1700000000 + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def handle_api(self, method: str, args: JsonDict, token: str | None) -> _Reply:
        with self._lock:
            now = time.monotonic()
            call = Call(method, args, time.time(), 200, channel=args.get("channel"))
            call.thread_ts = args.get("thread_ts")
            if self._is_unreachable():
                call.status, call.ok, call.error = 0, False, "dropped"
                self._record(call)
                return _Reply(0, None)
            if not token:
                return self._refuse(call, "not_authed")
            if token in self.revoked_tokens:
                return self._refuse(call, "token_revoked")
            needed = APP_LEVEL_METHODS.get(method)
            if needed is not None:  # a bot token or an unknown one is not this app's
                if token not in self.app_tokens:
                    return self._refuse(call, "invalid_auth")
                if needed not in self.app_tokens[token]:
                    return self._refuse(
                        call,
                        "missing_scope",
                        {"ok": False, "error": "missing_scope", "needed": needed},
                    )
            elif not token.startswith("xox"):
                return self._refuse(call, "invalid_auth")
            for rule in self._rules:
                if rule.method != "response_url" and rule.matches(method, now):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return self._failure(call, rule.status, rule.retry_after)
            self._rules = [r for r in self._rules if r.live(now)]
            if method == "chat.postMessage" and self._bucket is not None and args.get("channel"):
                wait = self._bucket.take(str(args["channel"]), now)
                if wait > 0:
                    return self._failure(call, 429, max(1, math.ceil(wait)))
            if self._tiers is not None:
                wait = self._tiers.take(method, now)
                if wait > 0:
                    return self._failure(call, 429, max(1, math.ceil(wait)))
            handler = _METHODS.get(method)
            if handler is None:
                return self._refuse(call, "unknown_method")
            data, message = handler(self, args)
            if not data.get("ok"):
                return self._refuse(call, str(data.get("error")), data)
            call.ts = data.get("ts") or data.get("message_ts")
            self._record(call, copy.deepcopy(message) if message else None)
            return _json_reply(200, data, self._scope_header())

    def _scope_header(self) -> dict[str, str]:
        return {"x-oauth-scopes": ",".join(self.scopes)}

    def _refuse(self, call: Call, error: str, data: JsonDict | None = None) -> _Reply:
        call.ok, call.error = False, error
        self._record(call)
        return _json_reply(200, data or {"ok": False, "error": error}, self._scope_header())

    def _failure(self, call: Call, status: int, retry_after: float) -> _Reply:
        call.status, call.ok = status, False
        if status == 429:
            call.error = "ratelimited"
            self._record(call)
            headers = {"Retry-After": str(max(0, math.ceil(retry_after)))}
            return _json_reply(429, {"ok": False, "error": "ratelimited"}, headers)
        call.error = _TRANSIENT_ERRORS.get(status, "error")
        self._record(call)
        return _json_reply(status, {"ok": False, "error": call.error})

    def handle_response_url(self, name: str, body: JsonDict) -> _Reply:
        with self._lock:
            call = Call("response_url", {"name": name, **body}, time.time(), 200)
            if self._is_unreachable():
                call.status, call.ok, call.error = 0, False, "dropped"
                self._record(call)
                return _Reply(0, None)
            for rule in self._rules:
                if rule.method == "response_url" and rule.matches("response_url", time.monotonic()):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    call.status, call.ok, call.error = rule.status, False, "failed"
                    self._record(call)
                    return _Reply(rule.status, b"failed", "text/plain")
            issued = self._response_urls.setdefault(name, [time.monotonic(), 0])
            expired = time.monotonic() - issued[0] > self.response_url_ttl_s
            if expired or issued[1] >= self.response_url_uses:
                call.status, call.ok, call.error = 404, False, "expired_url"
                self._record(call)
                return _Reply(404, b"expired_url", "text/plain")
            issued[1] += 1
            self.response_posts.append(ResponsePost(name, body, call.at))
            self._record(call)
            return _Reply(200, b"ok", "text/plain")

    def handle_upload(self, file_id: str, raw: bytes, content_type: str) -> _Reply:
        """The POST to an upload URL: raw bytes or a multipart form with the file (Slack answers
        HTTP 200 when the bytes arrived, another status otherwise; the size must be the
        ``length`` announced: https://docs.slack.dev/reference/methods/files.getUploadURLExternal)."""
        with self._lock:
            call = Call("upload", {"file_id": file_id, "bytes": len(raw)}, time.time(), 200)
            upload = self.uploads.get(file_id)
            data = _multipart_file(raw, content_type) if "multipart/" in content_type else raw
            if upload is None or upload.completed:
                call.status, call.ok, call.error = 404, False, "upload_not_found"
            elif data is None or len(data) != upload.length:
                call.status, call.ok, call.error = 400, False, "length_mismatch"
            else:
                upload.data = data
            self._record(call)
            if not call.ok:
                return _Reply(call.status, (call.error or "").encode(), "text/plain")
            return _Reply(200, f"OK - {len(raw)}".encode(), "text/plain")

    def handle_control(self, verb: str, action: str, query: JsonDict, body: JsonDict) -> _Reply:
        """The /_loopback/ endpoints, for out-of-process users (bench, e2e)."""
        with self._lock:
            if verb == "GET" and action == "calls":
                return _json_reply(200, [c.to_dict() for c in self.calls])
            if verb == "GET" and action == "messages":
                msgs = self.messages(str(query.get("channel", "")))
                return _json_reply(200, [m.to_dict() for m in msgs])
            if verb == "GET" and action == "ephemerals":
                return _json_reply(200, [e.to_dict() for e in self.ephemerals])
            if verb == "GET" and action == "home_views":
                return _json_reply(200, self.home_views)
            if verb == "GET" and action == "response_posts":
                return _json_reply(200, [p.to_dict() for p in self.response_posts])
            if action.startswith("socket/"):
                return self._socket_control(verb, action[len("socket/") :], query, body)
            try:
                if verb == "POST" and action == "fail":
                    self.fail(**body)
                elif verb == "POST" and action == "fail_for":
                    self.fail_for(**body)
                elif verb == "POST" and action == "unreachable":
                    self.unreachable(body.get("seconds"))
                elif verb == "POST" and action == "reachable":
                    self.reachable()
                elif verb == "POST" and action == "enforce_rate":
                    self.enforce_rate(**body)
                elif verb == "POST" and action == "invite":
                    self.invite(*body.get("channels", []))
                elif verb == "POST" and action == "kick":
                    self.kick(*body.get("channels", []))
                elif verb == "POST" and action == "archive":
                    self.archive(*body.get("channels", []))
                elif verb == "POST" and action == "scopes":
                    self.scopes = [str(x) for x in body.get("scopes", [])]
                elif verb == "POST" and action == "enforce_tiers":
                    self.enforce_tiers(**body)
                elif verb == "POST" and action == "usergroups":
                    self.usergroups.update(body)
                elif verb == "POST" and action == "reset":
                    self.reset()
                else:
                    return _json_reply(404, {"ok": False, "error": "unknown_control"})
            except TypeError:
                return _json_reply(400, {"ok": False, "error": "bad_arguments"})
            return _json_reply(200, {"ok": True})

    def _socket_control(self, verb: str, action: str, query: JsonDict, body: JsonDict) -> _Reply:
        """Deliveries over Socket Mode for another process (a rehearsal's shell): ``POST
        socket/slash_command`` (the command's fields), ``socket/interactive`` and
        ``socket/event`` (the payload as JSON, or form-encoded as ``payload=`` the way HTTP mode
        gets it) answer the envelope id; ``GET socket/envelopes`` (``?envelope_id=``) lists the
        envelopes with their acks. An envelope waits for the app's connection if none is open."""
        if verb == "GET" and action == "envelopes":
            wanted = query.get("envelope_id")
            records = self.socket_mode.records()
            if wanted:
                records = [r for r in records if r["envelope_id"] == wanted]
            return _json_reply(200, records)
        kinds = {"slash_command": "slash_commands", "interactive": "interactive"}
        kinds["event"] = "events_api"
        if verb != "POST" or action not in kinds:
            return _json_reply(404, {"ok": False, "error": "unknown_control"})
        payload: Any = body
        if action != "slash_command" and set(body) == {"payload"}:
            try:
                payload = json.loads(str(body["payload"]))
            except ValueError:
                payload = None
        if not isinstance(payload, dict) or not payload:
            return _json_reply(400, {"ok": False, "error": "bad_arguments"})
        if action == "slash_command":
            payload = {str(k): str(v) for k, v in payload.items()}
        envelope = self.socket_mode.deliver(kinds[action], payload)
        return _json_reply(200, {"ok": True, "envelope_id": envelope.envelope_id})

    # -- Slack methods: each returns (answer, message for subscribers) ----------------------
    def _missing_scope(self, scope: str) -> JsonDict | None:
        if scope in self.scopes:
            return None
        return {"ok": False, "error": "missing_scope", "needed": scope}

    def _get_upload_url(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        """https://docs.slack.dev/reference/methods/files.getUploadURLExternal: ``filename`` and
        ``length`` (bytes) required (``invalid_arguments``; a 0 length is ``missing_argument``);
        answers ``upload_url`` and ``file_id``; needs ``files:write``."""
        refused = self._missing_scope("files:write")
        if refused:
            return refused, None
        filename = str(args.get("filename") or "")
        try:
            length = int(str(args.get("length", "")))
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}, None
        if not filename:
            return {"ok": False, "error": "invalid_arguments"}, None
        if length <= 0:
            return {"ok": False, "error": "missing_argument"}, None
        self._seq += 1
        file_id = f"F{self._seq:08d}"
        self.uploads[file_id] = Upload(file_id, filename, length)
        url = f"{self.base_url}/_upload/{file_id}"
        return {"ok": True, "upload_url": url, "file_id": file_id}, None

    def _complete_upload(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        """https://docs.slack.dev/reference/methods/files.completeUploadExternal: ``files`` (a
        JSON array of ``{id, title}``) whose bytes were uploaded, shared in ``channel_id`` (the
        posting rules of chat.postMessage: ``not_in_channel`` ...) with ``initial_comment``,
        in the thread of ``thread_ts`` when given; needs ``files:write``."""
        refused = self._missing_scope("files:write")
        if refused:
            return refused, None
        files = args.get("files")
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}, None
        picked: list[Upload] = []
        for item in files:
            upload = self.uploads.get(str(item.get("id"))) if isinstance(item, dict) else None
            if upload is None or upload.data is None or upload.completed:
                return {"ok": False, "error": "file_not_found"}, None
            picked.append(upload)
        channel = str(args.get("channel_id") or "")
        message: Message | None = None
        if channel:
            error = self._channel_error(channel, post=True)
            if error:
                return {"ok": False, "error": error}, None
            thread_ts, error = self._thread_of(channel, args.get("thread_ts"))
            if error:
                return {"ok": False, "error": error}, None
            comment = args.get("initial_comment")
            message = Message(channel, self._next_ts(), comment, None, thread_ts=thread_ts)
            self._messages.setdefault(channel, []).append(message)
            self._by_ts[(channel, message.ts)] = message
        answer = []
        for upload, item in zip(picked, files, strict=True):
            upload.completed = True
            upload.title = str(item.get("title") or upload.filename)
            upload.channel = channel or None
            upload.initial_comment = args.get("initial_comment")
            upload.thread_ts = message.thread_ts if message else None
            answer.append(
                {
                    "id": upload.file_id,
                    "name": upload.filename,
                    "title": upload.title,
                    "size": upload.length,
                }
            )
        return {"ok": True, "files": answer}, message

    def _auth_test(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        return {"ok": True, **BOT_IDENTITY}, None

    def _connections_open(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        """A WebSocket URL with a one-time ticket, on this server's port (Slack's is wss://)."""
        ticket = self.socket_mode.issue_ticket()
        url = f"ws://{self._host}:{self.port}{SOCKET_PATH}?ticket={ticket}"
        return {"ok": True, "url": url}, None

    def _channel_error(self, channel: Any, *, post: bool = False) -> str | None:
        """Slack's answer for a channel the bot cannot use: a private channel it is not in is
        invisible (``channel_not_found``); posting needs membership (``not_in_channel``) unless
        the app holds ``chat:write.public`` and the channel is public; nothing may be posted in
        an archived channel (``is_archived``). See the errors of
        https://docs.slack.dev/reference/methods/chat.postMessage and
        https://docs.slack.dev/reference/methods/chat.postEphemeral."""
        if not channel or channel in self.missing_channels:
            return "channel_not_found"
        member = channel in self.member_of
        if channel in self.private_channels and not member:
            return "channel_not_found"
        if channel in self.archived_channels:
            return "is_archived"
        if post and not member:
            public_ok = "chat:write.public" in self.scopes and channel not in self.private_channels
            if not public_ok:
                return "not_in_channel"
        return None

    def _content_error(self, args: JsonDict, max_blocks: int = MESSAGE_MAX_BLOCKS) -> str | None:
        text, blocks = args.get("text"), args.get("blocks")
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
            return "msg_too_long"
        if blocks is not None and block_kit_errors(blocks, max_blocks):
            return "invalid_blocks"
        return None

    def _thread_of(self, channel: str, thread_ts: Any) -> tuple[str | None, str | None]:
        """(the thread's parent ts, error): a reply to a reply goes to the thread's parent, as
        in Slack; an unknown parent is ``thread_not_found``."""
        if not thread_ts:
            return None, None
        parent = self._by_ts.get((channel, str(thread_ts)))
        if parent is None:
            return None, "thread_not_found"
        return parent.thread_ts or parent.ts, None

    def _post_message(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        channel = str(args.get("channel") or "")
        error = self._channel_error(channel, post=True)
        if error:
            return {"ok": False, "error": error}, None
        text, blocks = args.get("text"), args.get("blocks")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}, None
        error = self._content_error(args)
        if error:
            return {"ok": False, "error": error}, None
        thread_ts, error = self._thread_of(channel, args.get("thread_ts"))
        if error:
            return {"ok": False, "error": error}, None
        msg = Message(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            reply_broadcast=_truthy(args.get("reply_broadcast", False)),
        )
        self._messages.setdefault(channel, []).append(msg)
        self._by_ts[(channel, msg.ts)] = msg
        return {"ok": True, "channel": channel, "ts": msg.ts, "message": msg.to_slack()}, msg

    def _update(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        error = self._channel_error(channel)
        if error:
            return {"ok": False, "error": error}, None
        msg = self._by_ts.get((channel, ts)) if ts else None
        if msg is None:
            return {"ok": False, "error": "message_not_found"}, None
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}, None
        error = self._content_error(args)
        if error:
            return {"ok": False, "error": error}, None
        msg.edits.append({"text": msg.text, "blocks": msg.blocks, "at": time.time()})
        msg.text = args.get("text")
        msg.blocks = args.get("blocks")
        answer = {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": msg.text or "",
            "message": msg.to_slack(),
        }
        return answer, msg

    def _post_ephemeral(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        channel, user = str(args.get("channel") or ""), str(args.get("user") or "")
        error = self._channel_error(channel, post=True)
        if error:
            return {"ok": False, "error": error}, None
        if not user:
            return {"ok": False, "error": "user_not_in_channel"}, None
        text, blocks = args.get("text"), args.get("blocks")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}, None
        error = self._content_error(args)
        if error:
            return {"ok": False, "error": error}, None
        ts = self._next_ts()
        self.ephemerals.append(Ephemeral(channel, user, text, blocks, ts, args.get("thread_ts")))
        return {"ok": True, "message_ts": ts}, None

    def _view_answer(self, view: Any) -> JsonDict | None:
        if not isinstance(view, dict):
            return None
        self._seq += 1
        return {"id": f"V{self._seq:08d}", **view}

    def _views_publish(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        user = args.get("user_id")
        view = self._view_answer(args.get("view"))
        if not user or view is None:
            return {"ok": False, "error": "invalid_arguments"}, None
        # A Home tab takes up to 100 blocks (https://docs.slack.dev/reference/views/home-tab-views)
        if block_kit_errors(view.get("blocks") or [], VIEW_MAX_BLOCKS):
            return {"ok": False, "error": "invalid_arguments"}, None
        self.home_views[str(user)] = view
        return {"ok": True, "view": view}, None

    def _views_open(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        view = self._view_answer(args.get("view"))
        if not args.get("trigger_id") or view is None:
            return {"ok": False, "error": "invalid_arguments"}, None
        self.opened_views.append({"trigger_id": args["trigger_id"], "view": view})
        return {"ok": True, "view": view}, None

    def _conversations_info(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        """https://docs.slack.dev/reference/methods/conversations.info: ``is_member`` says
        whether the bot was invited; a private channel it is not in is ``channel_not_found``."""
        if "channels:read" not in self.scopes and "groups:read" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "channels:read"}, None
        channel = str(args.get("channel") or "")
        if not channel or channel in self.missing_channels:
            return {"ok": False, "error": "channel_not_found"}, None
        private = channel in self.private_channels
        member = channel in self.member_of
        if private and not member:
            return {"ok": False, "error": "channel_not_found"}, None
        info = {
            "id": channel,
            "name": self.channel_names.get(channel, channel.lower()),
            "is_channel": not private,
            "is_group": private,
            "is_private": private,
            "is_archived": channel in self.archived_channels,
            "is_member": member,
        }
        return {"ok": True, "channel": info}, None

    def _usergroup_users(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        group = args.get("usergroup")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}, None
        return {"ok": True, "users": list(self.usergroups[str(group)])}, None

    def _users_info(self, args: JsonDict) -> tuple[JsonDict, Message | None]:
        user = args.get("user")
        if not user:
            return {"ok": False, "error": "user_not_found"}, None
        info = {"id": user, "name": str(user).lower(), "real_name": str(user), "tz": "UTC"}
        info.update(self.users.get(str(user), {}))
        return {"ok": True, "user": info}, None


# Block Kit's documented limits (https://docs.slack.dev/reference/block-kit/blocks): 50 blocks in
# a message, 100 in a modal or Home tab; section text 3000 characters, up to 10 fields of 2000;
# header text 150; context up to 10 elements; actions up to 25 elements; block_id and action_id
# 255; button text 75, button value 2000.


def _text_len(obj: Any) -> int:
    return len(str(obj.get("text", ""))) if isinstance(obj, dict) else -1


def _element_errors(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict):
        return [f"{where}: not an object"]
    out = []
    if len(str(element.get("action_id", ""))) > 255:
        out.append(f"{where}: action_id longer than 255")
    if element.get("type") == "button":
        if not 0 < _text_len(element.get("text")) <= 75:
            out.append(f"{where}: button text must be 1..75 characters")
        if len(str(element.get("value", ""))) > 2000:
            out.append(f"{where}: button value longer than 2000")
    return out


def _block_errors(block: Any, where: str) -> list[str]:
    if not isinstance(block, dict) or not block.get("type"):
        return [f"{where}: a block needs a type"]
    out = []
    kind = block["type"]
    if len(str(block.get("block_id", ""))) > 255:
        out.append(f"{where}: block_id longer than 255")
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            out.append(f"{where}: a section needs text or fields")
        if text is not None and not 0 < _text_len(text) <= 3000:
            out.append(f"{where}: section text must be 1..3000 characters")
        if fields is not None:
            if len(fields) > 10:
                out.append(f"{where}: more than 10 fields")
            out += [f"{where}: field over 2000" for f in fields if not 0 < _text_len(f) <= 2000]
        if block.get("accessory") is not None:
            out += _element_errors(block["accessory"], f"{where}.accessory")
    elif kind == "header":
        if not 0 < _text_len(block.get("text")) <= 150:
            out.append(f"{where}: header text must be 1..150 characters")
    elif kind == "context":
        elements = block.get("elements") or []
        if not 0 < len(elements) <= 10:
            out.append(f"{where}: context needs 1..10 elements")
        out += [f"{where}: context text over 3000" for e in elements if _text_len(e) > 3000]
    elif kind == "actions":
        elements = block.get("elements") or []
        if not 0 < len(elements) <= 25:
            out.append(f"{where}: actions needs 1..25 elements")
        for i, element in enumerate(elements):
            out += _element_errors(element, f"{where}.elements[{i}]")
    return out


def block_kit_errors(blocks: Any, max_blocks: int = MESSAGE_MAX_BLOCKS) -> list[str]:
    """Why Slack would answer ``invalid_blocks`` for ``blocks`` (empty: it would accept them)."""
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    out = [f"more than {max_blocks} blocks"] if len(blocks) > max_blocks else []
    for i, block in enumerate(blocks):
        out += _block_errors(block, f"blocks[{i}]")
    return out


_Method = Callable[[LoopbackSlack, JsonDict], tuple[JsonDict, Message | None]]
_METHODS: dict[str, _Method] = {
    "apps.connections.open": LoopbackSlack._connections_open,
    "auth.test": LoopbackSlack._auth_test,
    "files.getUploadURLExternal": LoopbackSlack._get_upload_url,
    "files.completeUploadExternal": LoopbackSlack._complete_upload,
    "chat.postMessage": LoopbackSlack._post_message,
    "chat.update": LoopbackSlack._update,
    "chat.postEphemeral": LoopbackSlack._post_ephemeral,
    "conversations.info": LoopbackSlack._conversations_info,
    "views.publish": LoopbackSlack._views_publish,
    "views.open": LoopbackSlack._views_open,
    "usergroups.users.list": LoopbackSlack._usergroup_users,
    "users.info": LoopbackSlack._users_info,
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    owner: LoopbackSlack


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == SOCKET_PATH:
            self._socket_mode(dict(parse_qsl(parts.query)))
            return
        self._dispatch("GET")

    def _socket_mode(self, query: dict[str, str]) -> None:
        """The connection becomes a WebSocket (or is refused) and ends with it."""
        self.close_connection = True
        owner = self.server.owner
        with owner._lock:
            dropped = owner._is_unreachable()
        if dropped:
            return
        owner.socket_mode.serve(self.command, self.headers, query, self.rfile.read, self.connection)

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _raw_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_body(self) -> tuple[JsonDict, bool]:
        """Parse a JSON or form body; returns (fields, parsed_ok)."""
        raw = self._raw_body()
        if not raw:
            return {}, True
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if ctype == "application/json":
                data = json.loads(raw)
                return (data, True) if isinstance(data, dict) else ({}, False)
            if ctype in ("application/x-www-form-urlencoded", ""):
                return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)), True
        except (ValueError, UnicodeDecodeError):
            return {}, False
        return {}, False

    def _dispatch(self, verb: str) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        query: JsonDict = dict(parse_qsl(parts.query, keep_blank_values=True))
        path = parts.path
        if path.startswith("/_upload/") and verb == "POST":  # the bytes, not a form
            ctype = self.headers.get("Content-Type") or ""
            self._write(owner.handle_upload(path[len("/_upload/") :], self._raw_body(), ctype))
            return
        body, parsed = self._read_body()
        if path.startswith("/api/"):
            args = {**query, **body}
            token = args.pop("token", None)
            auth = self.headers.get("Authorization") or ""
            if auth.lower().startswith("bearer "):
                token = auth[7:].strip()
            for name in _JSON_FIELDS:
                if isinstance(args.get(name), str):
                    try:
                        args[name] = json.loads(args[name])
                    except ValueError:
                        parsed = False
            if not parsed:
                reply = _json_reply(200, {"ok": False, "error": "invalid_form_data"})
            else:
                reply = owner.handle_api(path[len("/api/") :], args, token)
        elif path.startswith("/_response/") and verb == "POST":
            reply = owner.handle_response_url(path[len("/_response/") :], body)
        elif path.startswith("/_loopback/"):
            reply = owner.handle_control(verb, path[len("/_loopback/") :], query, body)
        else:
            reply = _json_reply(404, {"ok": False, "error": "not_found"})
        self._write(reply)

    def _write(self, reply: _Reply) -> None:
        if reply.body is None:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)


def _multipart_file(raw: bytes, content_type: str) -> bytes | None:
    """The first part's bytes of a multipart/form-data body (``-F file=@x.zip``)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        return None
    boundary = b"--" + match.group(1).encode("latin-1")
    for part in raw.split(boundary)[1:]:
        head, sep, body = part.partition(b"\r\n\r\n")
        if sep and b"content-disposition" in head.lower():
            return body[:-2] if body.endswith(b"\r\n") else body
    return None


# -- serving it on its own (`cloudsync slack-standin`), for rehearsals of the HTTP path -------
STANDIN_TOKEN = "xoxb-rehearsal-standin"  # any xox* token is accepted; this one is printed


def _one_line(text: Any) -> str:
    return str(text or "").replace("\n", " ")[:200]


def _print_post(call: Call, message: Message | None) -> None:
    """One line per thing the bot says (posts, edits, ephemerals, response_url answers) and per
    call refused, so an operator follows the conversation in the stand-in's terminal."""
    if not call.ok:
        print(f"refused {call.method}: {call.error}", flush=True)
    elif message is not None and call.method in ("chat.postMessage", "chat.update"):
        verb = "edited" if call.method == "chat.update" else "posted"
        print(f"{verb} in {message.channel} ({message.ts}): {_one_line(message.text)}", flush=True)
    elif call.method == "chat.postEphemeral":
        who = call.args.get("user")
        print(f"only {who} sees, in {call.channel}: {_one_line(call.args.get('text'))}", flush=True)
    elif call.method == "response_url":
        print(f"answered: {_one_line(call.args.get('text'))}", flush=True)


def standin_app_token() -> str:
    """A made-up app-level token in Slack's shape (``xapp-1-<app id>-<number>-<hex>``), new for
    every run of the stand-in: it opens Socket Mode here and nowhere else."""
    number = secrets.randbelow(10**12)
    return f"xapp-1-{APP_ID}-{number:012d}-{secrets.token_hex(32)}"


def _write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def main(argv: list[str] | None = None) -> int:
    """Serve the loopback Slack Web API on ``--listen`` until SIGINT/SIGTERM; print the
    ``SLACK_API_URL`` (and the bot token) to use, then each message the bot posts."""
    import argparse
    import signal
    import sys

    ap = argparse.ArgumentParser(prog="cloudsync slack-standin", description=main.__doc__)
    ap.add_argument("--listen", default="127.0.0.1:0", help="loopback HOST:PORT (0 = any)")
    ap.add_argument(
        "--channel",
        action="append",
        default=[],
        help="a channel id the bot has been invited to (repeatable)",
    )
    ap.add_argument(
        "--app-token-file",
        help="also write the generated app-level token (SLACK_APP_TOKEN) to this file (0600)",
    )
    args = ap.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1") or not port.isdigit():
        print("cloudsync slack-standin: --listen takes a loopback 127.0.0.1:PORT", file=sys.stderr)
        return 2
    server = LoopbackSlack(host, int(port), member_of=args.channel)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
    except OSError as exc:
        print(f"cloudsync slack-standin: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 1
    server.subscribe(_print_post)
    app_token = standin_app_token()
    server.add_app_token(app_token)
    if args.app_token_file:
        try:
            _write_private(args.app_token_file, app_token + "\n")
        except OSError as exc:
            print(
                f"cloudsync slack-standin: cannot write {args.app_token_file}: {exc}",
                file=sys.stderr,
            )
            server.stop()
            return 1
    print(f"SLACK_API_URL={server.api_url}")
    print(f"SLACK_BOT_TOKEN={STANDIN_TOKEN} (the stand-in accepts any xoxb- token)")
    print(f"listening on {server.base_url}")
    print(f"SLACK_APP_TOKEN={app_token} (for Socket Mode; made up for this run only)", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0
