"""RFC 6455 on the server's side, standard library only: the opening handshake's answer and the
framing (text, close, ping/pong, continuation), for the loopback Slack's Socket Mode stand-in.

Only what a server needs: frames from a client must be masked (RFC 6455 section 5.1: a server
closes the connection on an unmasked client frame), frames from the server are not; control
frames carry at most 125 bytes and are never fragmented (section 5.5); a fragmented message is
one text or binary frame with FIN clear, continuation frames, the last with FIN set (5.4).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)
DATA_OPCODES = (OP_CONTINUATION, OP_TEXT, OP_BINARY)
# close codes (RFC 6455 section 7.4.1)
CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_PROTOCOL_ERROR = 1000, 1001, 1002
CLOSE_INVALID_DATA, CLOSE_TOO_BIG = 1007, 1009
MAX_MESSAGE_BYTES = 1 << 20  # a Socket Mode ack is small; anything this large is a fault


class Headers(Protocol):
    """A request's headers, looked up case-insensitively (``http.client.HTTPMessage``)."""

    def get(self, name: str, /) -> str | None: ...


class ProtocolError(Exception):
    """The peer broke RFC 6455; ``code`` is the close code to answer with."""

    def __init__(self, message: str, code: int = CLOSE_PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


class ConnectionClosed(Exception):
    """The TCP stream ended (without a close frame, or in the middle of one)."""


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1((key.strip() + GUID).encode("ascii")).digest()  # the RFC's digest
    return base64.b64encode(digest).decode("ascii")


def handshake_problem(method: str, headers: Headers) -> str | None:
    """Why this request is not a valid WebSocket opening handshake (RFC 6455 section 4.2.1), or
    None."""
    if method != "GET":
        return "the opening handshake is a GET"
    if (headers.get("Upgrade") or "").strip().lower() != "websocket":
        return "Upgrade: websocket is missing"
    tokens = {t.strip().lower() for t in (headers.get("Connection") or "").split(",")}
    if "upgrade" not in tokens:
        return "Connection: Upgrade is missing"
    if (headers.get("Sec-WebSocket-Version") or "").strip() != "13":
        return "Sec-WebSocket-Version must be 13"
    key = (headers.get("Sec-WebSocket-Key") or "").strip()
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return "Sec-WebSocket-Key must be 16 bytes, base64-encoded"
    except ValueError:
        return "Sec-WebSocket-Key is not base64"
    return None


def switching_protocols(key: str) -> bytes:
    """The server's 101 answer to a valid opening handshake."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode("ascii")


def refusal(status: int, reason: str, extra: Mapping[str, str] | None = None) -> bytes:
    """A plain HTTP answer that refuses the upgrade (the connection is closed after it)."""
    body = reason.encode()
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: text/plain", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` (RFC 6455 section 5.3); its own inverse."""
    if not data:
        return b""
    repeated = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(data), "big"
    )


def encode_frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """One frame. A server sends ``mask=None``; a client (the tests play one) passes 4 bytes,
    or ``b""`` for fresh random ones."""
    if opcode in CONTROL_OPCODES and (len(payload) > 125 or not fin):
        raise ValueError("a control frame is at most 125 bytes and never fragmented")
    head = bytes([(0x80 if fin else 0) | opcode])
    masked = 0x80 if mask is not None else 0
    size = len(payload)
    if size <= 125:
        head += bytes([masked | size])
    elif size <= 0xFFFF:
        head += bytes([masked | 126]) + struct.pack("!H", size)
    else:
        head += bytes([masked | 127]) + struct.pack("!Q", size)
    if mask is None:
        return head + payload
    key = mask or os.urandom(4)
    return head + key + apply_mask(payload, key)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


@dataclass
class Frame:
    fin: bool
    opcode: int
    payload: bytes
    masked: bool


def read_frame(read: Callable[[int], bytes]) -> Frame:
    """One frame, unmasked, from ``read(n)`` (up to ``n`` bytes; ``b""`` at the end)."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = read(n - len(data))
            if not chunk:
                raise ConnectionClosed("the stream ended inside a frame" if data else "eof")
            data += chunk
        return data

    b1, b2 = exactly(2)
    if b1 & 0x70:
        raise ProtocolError("reserved bits set without a negotiated extension")
    opcode, fin, masked = b1 & 0x0F, bool(b1 & 0x80), bool(b2 & 0x80)
    if opcode not in CONTROL_OPCODES + DATA_OPCODES:
        raise ProtocolError(f"unknown opcode {opcode:#x}")
    size = b2 & 0x7F
    if size == 126:
        size = struct.unpack("!H", exactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", exactly(8))[0]
    if opcode in CONTROL_OPCODES and (size > 125 or not fin):
        raise ProtocolError("a control frame over 125 bytes or fragmented")
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError("frame too large", CLOSE_TOO_BIG)
    key = exactly(4) if masked else b""
    payload = exactly(size)
    return Frame(fin, opcode, apply_mask(payload, key) if masked else payload, masked)


class MessageReader:
    """Whole messages from a client's frames: masking enforced, fragments joined, control frames
    handed to ``on_control`` as they come (they may arrive between fragments)."""

    def __init__(self, read: Callable[[int], bytes], on_control: Callable[[Frame], None]) -> None:
        self.read = read
        self.on_control = on_control

    def next_message(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next text or binary message; a close frame is passed to
        ``on_control`` and then returned as ``(OP_CLOSE, payload)``."""
        first: Frame | None = None
        parts: list[bytes] = []
        while True:
            frame = read_frame(self.read)
            if not frame.masked:
                raise ProtocolError("a client frame must be masked")
            if frame.opcode in CONTROL_OPCODES:
                self.on_control(frame)
                if frame.opcode == OP_CLOSE:
                    return OP_CLOSE, frame.payload
                continue
            if first is None:
                if frame.opcode == OP_CONTINUATION:
                    raise ProtocolError("a continuation frame without a message to continue")
                first = frame
            elif frame.opcode != OP_CONTINUATION:
                raise ProtocolError("a new message began before the fragmented one ended")
            parts.append(frame.payload)
            if sum(len(p) for p in parts) > MAX_MESSAGE_BYTES:
                raise ProtocolError("message too large", CLOSE_TOO_BIG)
            if frame.fin:
                return first.opcode, b"".join(parts)


def parse_close(payload: bytes) -> tuple[int, str]:
    """(code, reason) of a close frame's payload; 1005 when it carries none (section 7.1.5)."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise ProtocolError("a close payload of one byte")
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")
