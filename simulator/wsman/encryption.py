"""MS-WSMV 2.2.9.1.1 message encryption framing (HTTP-SPNEGO-session-encrypted) for NTLM."""

from __future__ import annotations

import re
import struct
from typing import Protocol

PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="Encrypted Boundary"'
_BOUNDARY = b"--Encrypted Boundary"
_LENGTH = re.compile(rb"Length=(\d+)")
_OCTET = b"\tContent-Type: application/octet-stream\r\n"


class Sealer(Protocol):
    def wrap(self, data: bytes) -> tuple[bytes, bytes]: ...

    def unwrap(self, signature: bytes, sealed: bytes) -> bytes: ...


class FramingError(ValueError):
    """The encrypted body is malformed or does not match its stated length."""


def is_encrypted(content_type: str) -> bool:
    return "multipart/encrypted" in content_type.lower() and PROTOCOL.lower() in (
        content_type.lower()
    )


def decrypt(body: bytes, ctx: Sealer) -> bytes:
    """Unseal a multipart/encrypted request body."""
    parts = [p for p in body.split(_BOUNDARY + b"\r\n") if p]
    if len(parts) < 2:
        raise FramingError("expected a header part and a data part")
    header, payload = parts[0], parts[1]
    match = _LENGTH.search(header)
    if not match:
        raise FramingError("OriginalContent Length missing")
    if payload.endswith(_BOUNDARY + b"--\r\n"):
        payload = payload[: -len(_BOUNDARY + b"--\r\n")]
    if not payload.startswith(_OCTET):
        raise FramingError("octet-stream part missing")
    payload = payload[len(_OCTET) :]
    if len(payload) < 4:
        raise FramingError("truncated payload")
    (sig_len,) = struct.unpack("<I", payload[:4])
    signature = payload[4 : 4 + sig_len]
    plain = ctx.unwrap(signature, payload[4 + sig_len :])
    if len(plain) != int(match.group(1)):
        raise FramingError("decrypted length does not match OriginalContent")
    return plain


def encrypt(plain: bytes, ctx: Sealer) -> bytes:
    """Seal a response body in the same framing the client uses."""
    signature, sealed = ctx.wrap(plain)
    return b"".join(
        (
            _BOUNDARY,
            b"\r\n\tContent-Type: ",
            PROTOCOL.encode(),
            b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=",
            str(len(plain)).encode(),
            b"\r\n",
            _BOUNDARY,
            b"\r\n",
            _OCTET,
            struct.pack("<I", len(signature)),
            signature,
            sealed,
            _BOUNDARY,
            b"--\r\n",
        )
    )
