"""Slack's side of Socket Mode, for the loopback Slack server.

What it models, from Slack's "Using Socket Mode" page
(https://docs.slack.dev/apis/events-api/using-socket-mode):

- ``apps.connections.open`` (answered by ``simulator.slack_api``) hands out a WebSocket URL with a
  one-time ``ticket``; connecting to it gets a ``hello`` message (``num_connections``,
  ``connection_info.app_id``, ``debug_info.approximate_connection_time``).
- Payloads arrive in envelopes ``{"payload", "envelope_id", "type", "accepts_response_payload"}``
  of type ``slash_commands``, ``interactive`` or ``events_api``; the app acknowledges each with
  ``{"envelope_id": ..., "payload": ...}`` (payload optional). With several connections open a
  payload may go to any of them (here: the newest that is not being retired).
- ``disconnect`` messages: ``warning`` (about 10 s before a disconnect), ``refresh_requested``
  and ``link_disabled`` (Socket Mode turned off). The app answers by opening a new connection.
- An ack is due within 3 s of the envelope's delivery, Slack's limit for events
  (https://docs.slack.dev/apis/events-api#responding) and for slash commands and clicks; a
  later ack is recorded but the envelope counts as missed.

What it assumes where the page is silent (the simulator's own choices, in ``docs/simulator.md``):

- A missed ``events_api`` envelope is delivered again as the Events API retries a failed
  delivery (https://docs.slack.dev/apis/events-api#retries: up to 3 retries, the first nearly
  immediately, then after 1 and 5 minutes), as a new envelope carrying ``retry_attempt`` and
  ``retry_reason`` (``http_timeout``, the Events API's name for it). A missed slash command or
  click is not retried: the user sees an error in Slack instead.
- After ``warning`` or ``refresh_requested`` the connection gets no new envelopes and is closed
  (1001) as soon as the app's next connection is open, or after ``refresh_grace_s`` (10 s);
  ``link_disabled`` closes it at once. (slack_sdk's client switches to its new connection only
  once its blocking read on the old one returns: a close frame ends that wait at once.)
  Envelopes with no connection to go to wait, and are delivered (in order) to the next
  connection: nothing is lost across a reconnect.
- A ticket works once; an unknown or used ticket is refused with HTTP 401 before the upgrade.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from simulator import websocket as ws

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]

APP_ID = "A01CLOUDSYNC"
ACK_TIMEOUT_S = 3.0
EVENTS_RETRY_DELAYS_S = (0.0, 60.0, 300.0)
REFRESH_GRACE_S = 10.0
APPROXIMATE_CONNECTION_TIME_S = 3600
DISCONNECT_REASONS = ("warning", "refresh_requested", "link_disabled")
ENVELOPE_TYPES = ("slash_commands", "interactive", "events_api")


@dataclass
class Envelope:
    """One delivery to the app and what became of it (times are ``time.monotonic()``)."""

    envelope_id: str
    type: str
    payload: JsonDict
    accepts_response_payload: bool
    queued_at: float
    due_at: float
    retry_attempt: int | None = None
    retry_reason: str | None = None
    retry_of: str | None = None
    sent_at: float | None = None
    connection: int | None = None  # the number of the connection that carried it
    acked_at: float | None = None
    ack_payload: JsonDict | None = None
    missed: bool = False  # no ack within the ack timeout (a late ack does not undo it)

    @property
    def ack_s(self) -> float | None:
        """Seconds from delivery to ack, or None while unacknowledged."""
        if self.sent_at is None or self.acked_at is None:
            return None
        return self.acked_at - self.sent_at

    def message(self) -> JsonDict:
        out: JsonDict = {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
        }
        if self.retry_attempt is not None:
            out["retry_attempt"] = self.retry_attempt
            out["retry_reason"] = self.retry_reason
        return out

    def to_dict(self) -> JsonDict:
        return {**asdict(self), "ack_s": self.ack_s}


@dataclass
class _Connection:
    number: int
    sock: socket.socket
    opened_at: float
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    retiring_since: float | None = None
    open: bool = True
    close_sent: bool = False
    last_ping_at: float | None = None

    def send(self, opcode: int, payload: bytes) -> None:
        with self.send_lock:
            self.sock.sendall(ws.encode_frame(opcode, payload))

    def send_json(self, data: JsonDict) -> None:
        self.send(ws.OP_TEXT, json.dumps(data).encode())

    def close(self, code: int, reason: str = "") -> None:
        """Send a close frame (once, best effort) and end the TCP connection."""
        with self.send_lock:
            if self.open and not self.close_sent:
                self.close_sent = True
                with contextlib.suppress(OSError):
                    self.sock.sendall(ws.encode_frame(ws.OP_CLOSE, ws.close_payload(code, reason)))
            self.open = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class SocketModeHub:
    """Tickets, connections, envelopes and acks. All state is guarded by one re-entrant lock."""

    def __init__(
        self,
        *,
        app_id: str = APP_ID,
        ack_timeout_s: float = ACK_TIMEOUT_S,
        events_retry_delays_s: tuple[float, ...] = EVENTS_RETRY_DELAYS_S,
        refresh_grace_s: float = REFRESH_GRACE_S,
    ) -> None:
        self.app_id = app_id
        self.ack_timeout_s = ack_timeout_s
        self.events_retry_delays_s = events_retry_delays_s
        self.refresh_grace_s = refresh_grace_s
        self.envelopes: list[Envelope] = []
        self.stray_acks: list[JsonDict] = []  # acks naming no envelope we sent
        self.connections_opened = 0
        self.refused_handshakes: list[str] = []
        self._by_id: dict[str, Envelope] = {}
        self._pending: list[Envelope] = []
        self._connections: dict[int, _Connection] = {}
        self._tickets: set[str] = set()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._clock: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> SocketModeHub:
        if self._clock is None:
            self._stop.clear()
            self._clock = threading.Thread(target=self._tick_forever, daemon=True)
            self._clock.name = "socket-mode-clock"
            self._clock.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._clock is not None:
            self._clock.join(timeout=5)
            self._clock = None
        with self._lock:
            connections = list(self._connections.values())
        for conn in connections:
            conn.close(ws.CLOSE_GOING_AWAY, "server stopping")

    def clear(self) -> None:
        """Forget the recorded envelopes (a delivery still waiting stays queued)."""
        with self._lock:
            self.envelopes = [e for e in self.envelopes if e in self._pending]
            self._by_id = {e.envelope_id: e for e in self.envelopes}
            self.stray_acks.clear()
            self.refused_handshakes.clear()

    # -- apps.connections.open -------------------------------------------------------------
    def issue_ticket(self) -> str:
        """A one-time ticket for the WebSocket URL ``apps.connections.open`` answers with."""
        ticket = secrets.token_urlsafe(12)
        with self._lock:
            self._tickets.add(ticket)
        return ticket

    # -- one WebSocket connection (called on the HTTP server's handler thread) -------------
    def serve(
        self,
        method: str,
        headers: ws.Headers,
        query: Mapping[str, str],
        read: Callable[[int], bytes],
        sock: socket.socket,
    ) -> None:
        """Answer the opening handshake on ``sock`` and run the connection until it closes;
        ``read`` reads what follows the request's headers (the handler's buffered stream)."""
        problem = ws.handshake_problem(method, headers)
        if problem is not None:
            version = {"Sec-WebSocket-Version": "13"} if "Version" in problem else None
            status, reason = (426, "Upgrade Required") if version else (400, "Bad Request")
            self._refuse(sock, problem, ws.refusal(status, reason, version))
            return
        with self._lock:
            ticket = str(query.get("ticket", ""))
            valid = ticket in self._tickets
            self._tickets.discard(ticket)
        if not valid:
            self._refuse(sock, "unknown or used ticket", ws.refusal(401, "Unauthorized"))
            return
        sock.sendall(ws.switching_protocols(str(headers.get("Sec-WebSocket-Key"))))
        with self._lock:
            self.connections_opened += 1
            conn = _Connection(self.connections_opened, sock, time.monotonic())
            self._connections[conn.number] = conn
            try:
                conn.send_json(self._hello())
            except OSError:
                conn.open = False
            self._flush()
            replaced = [c for c in self._connections.values() if c.retiring_since is not None]
            self._changed.notify_all()
        for old in replaced:  # the app has its new connection: the refreshed one goes now
            old.close(ws.CLOSE_GOING_AWAY, "refresh")
        try:
            self._read_until_closed(conn, read)
        finally:
            with self._lock:
                conn.open = False
                self._connections.pop(conn.number, None)
                self._changed.notify_all()

    def _refuse(self, sock: socket.socket, why: str, answer: bytes) -> None:
        with self._lock:
            self.refused_handshakes.append(why)
        with contextlib.suppress(OSError):
            sock.sendall(answer)

    def _hello(self) -> JsonDict:
        live = [c for c in self._connections.values() if c.open]
        return {
            "type": "hello",
            "num_connections": len(live),
            "connection_info": {"app_id": self.app_id},
            "debug_info": {
                "host": "applink-loopback",
                "build_number": 1,
                "approximate_connection_time": APPROXIMATE_CONNECTION_TIME_S,
            },
        }

    def _read_until_closed(self, conn: _Connection, read: Callable[[int], bytes]) -> None:
        def on_control(frame: ws.Frame) -> None:
            if frame.opcode == ws.OP_PING:
                conn.last_ping_at = time.monotonic()
                conn.send(ws.OP_PONG, frame.payload)
            elif frame.opcode == ws.OP_CLOSE:  # answer with the same code (RFC 6455 5.5.1)
                code, _ = ws.parse_close(frame.payload)
                conn.close(ws.CLOSE_NORMAL if code == 1005 else code)

        reader = ws.MessageReader(read, on_control)
        try:
            while conn.open:
                opcode, data = reader.next_message()
                if opcode == ws.OP_CLOSE:
                    return
                if opcode == ws.OP_TEXT:
                    self._on_text(conn, data)
        except ws.ProtocolError as exc:
            conn.close(exc.code, str(exc)[:100])
        except (ws.ConnectionClosed, OSError, ValueError):
            conn.close(ws.CLOSE_GOING_AWAY)

    def _on_text(self, conn: _Connection, data: bytes) -> None:
        try:
            message = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ws.ProtocolError("not UTF-8 JSON", ws.CLOSE_INVALID_DATA) from exc
        if not isinstance(message, dict) or "envelope_id" not in message:
            return  # nothing else is expected from an app; Slack ignores it too
        now = time.monotonic()
        with self._lock:
            envelope = self._by_id.get(str(message["envelope_id"]))
            if envelope is None or envelope.sent_at is None:
                self.stray_acks.append(message)
                return
            if envelope.acked_at is not None:
                return  # a second ack changes nothing
            envelope.acked_at = now
            payload = message.get("payload")
            envelope.ack_payload = payload if isinstance(payload, dict) else None
            if now - envelope.sent_at > self.ack_timeout_s:
                envelope.missed = True
            self._changed.notify_all()

    # -- deliveries ------------------------------------------------------------------------
    def deliver(
        self,
        type: str,
        payload: JsonDict,
        *,
        accepts_response_payload: bool | None = None,
    ) -> Envelope:
        """Queue an envelope for the app and send it now if a connection is open. Returns the
        live record (its ack fields fill in later; ``wait_ack`` returns a settled copy)."""
        if type not in ENVELOPE_TYPES:
            raise ValueError(f"unknown envelope type {type!r}")
        if accepts_response_payload is None:  # as Slack's examples show them
            accepts_response_payload = type != "events_api"
        return self._enqueue(type, copy.deepcopy(payload), accepts_response_payload)

    def slash_command(self, fields: Mapping[str, str]) -> Envelope:
        """A slash command: the payload is the command's form fields, as over HTTP."""
        return self.deliver("slash_commands", dict(fields))

    def interactive(self, payload: JsonDict) -> Envelope:
        """A ``block_actions`` (or other interaction) payload, as Slack sends it."""
        return self.deliver("interactive", payload)

    def event(self, payload: JsonDict) -> Envelope:
        """An Events API ``event_callback`` (e.g. ``app_home_opened``)."""
        return self.deliver("events_api", payload)

    def _enqueue(
        self,
        type: str,
        payload: JsonDict,
        accepts: bool,
        *,
        delay_s: float = 0.0,
        retry_of: Envelope | None = None,
    ) -> Envelope:
        now = time.monotonic()
        with self._lock:
            envelope = Envelope(
                envelope_id=str(uuid.uuid4()),
                type=type,
                payload=payload,
                accepts_response_payload=accepts,
                queued_at=now,
                due_at=now + delay_s,
            )
            if retry_of is not None:
                envelope.retry_attempt = (retry_of.retry_attempt or 0) + 1
                envelope.retry_reason = "http_timeout"
                envelope.retry_of = retry_of.envelope_id
            self.envelopes.append(envelope)
            self._by_id[envelope.envelope_id] = envelope
            self._pending.append(envelope)
            self._flush()
            return envelope

    def _target(self) -> _Connection | None:
        live = [c for c in self._connections.values() if c.open and c.retiring_since is None]
        return max(live, key=lambda c: c.number) if live else None

    def _flush(self) -> None:
        """Send every due envelope, in order, while a connection takes them."""
        now = time.monotonic()
        while True:
            due = [e for e in self._pending if e.due_at <= now]
            conn = self._target()
            if not due or conn is None:
                return
            envelope = due[0]
            try:
                conn.send_json(envelope.message())
            except OSError:
                conn.open = False
                continue
            envelope.sent_at, envelope.connection = time.monotonic(), conn.number
            self._pending.remove(envelope)
            self._changed.notify_all()

    # -- disconnects -----------------------------------------------------------------------
    def disconnect(self, reason: str = "refresh_requested") -> int:
        """Send ``{"type": "disconnect", "reason": reason}`` on every open connection; returns
        how many were told. See the module docstring for what follows each reason."""
        if reason not in DISCONNECT_REASONS:
            raise ValueError(f"unknown disconnect reason {reason!r}")
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "wss-loopback"}}
        told = 0
        with self._lock:
            targets = [c for c in self._connections.values() if c.open]
            now = time.monotonic()
            for conn in targets:
                try:
                    conn.send_json(message)
                    told += 1
                except OSError:
                    conn.open = False
                    continue
                if conn.retiring_since is None:
                    conn.retiring_since = now
        if reason == "link_disabled":
            for conn in targets:
                conn.close(ws.CLOSE_NORMAL, "link_disabled")
        return told

    # -- the clock: ack deadlines, retries, retired connections ----------------------------
    def _tick_forever(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.tick()
            except Exception:
                log.exception("socket mode clock failed")

    def tick(self) -> None:
        now = time.monotonic()
        closing: list[_Connection] = []
        with self._lock:
            for envelope in list(self.envelopes):
                overdue = envelope.sent_at is not None and envelope.acked_at is None
                if overdue and not envelope.missed:
                    assert envelope.sent_at is not None
                    if now - envelope.sent_at > self.ack_timeout_s:
                        envelope.missed = True
                        self._changed.notify_all()
                        self._retry(envelope)
            for conn in self._connections.values():
                since = conn.retiring_since
                if conn.open and since is not None and now - since >= self.refresh_grace_s:
                    closing.append(conn)
            self._flush()
        for conn in closing:
            conn.close(ws.CLOSE_GOING_AWAY, "refresh")

    def _retry(self, envelope: Envelope) -> None:
        attempt = envelope.retry_attempt or 0
        if envelope.type != "events_api" or attempt >= len(self.events_retry_delays_s):
            return
        delay = self.events_retry_delays_s[attempt]
        self._enqueue(
            envelope.type,
            envelope.payload,
            envelope.accepts_response_payload,
            delay_s=delay,
            retry_of=envelope,
        )

    # -- inspection ------------------------------------------------------------------------
    def open_connections(self) -> int:
        with self._lock:
            return sum(1 for c in self._connections.values() if c.open)

    def pending(self) -> int:
        """Envelopes not yet delivered (no connection, or a retry not yet due)."""
        with self._lock:
            return len(self._pending)

    def records(self) -> list[JsonDict]:
        """Every envelope recorded, in delivery order, with what became of it (its ack)."""
        with self._lock:
            return [copy.deepcopy(e.to_dict()) for e in self.envelopes]

    def get(self, envelope_id: str) -> Envelope | None:
        with self._lock:
            found = self._by_id.get(envelope_id)
            return copy.deepcopy(found) if found is not None else None

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> Envelope:
        """The envelope once acked or missed (a copy); TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                envelope = self._by_id.get(envelope_id)
                if envelope is None:
                    raise KeyError(envelope_id)
                if envelope.acked_at is not None or envelope.missed:
                    return copy.deepcopy(envelope)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"envelope {envelope_id} neither acked nor missed")
                self._changed.wait(min(left, 0.1))

    def wait_connections(self, opened: int, timeout: float = 30.0) -> None:
        """Until ``opened`` connections have been opened in all and one is open for deliveries."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.connections_opened < opened or self._target() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.connections_opened} Socket Mode connection(s) opened, "
                        f"wanted {opened} with one open"
                    )
                self._changed.wait(min(left, 0.1))
