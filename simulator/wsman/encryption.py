"""MS-WSMV 2.2.9.1 message encryption framing: HTTP-SPNEGO-session-encrypted (NTLM and Kerberos,
2.2.9.1.1) and HTTP-CredSSP-session-encrypted (2.2.9.1.3, whose bodies over 16 KiB come as
``multipart/x-multi-encrypted``: one header part and one sealed part per 16 KiB chunk)."""

from __future__ import annotations

import re
import struct
from typing import Protocol

PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
CREDSSP_PROTOCOL = "application/HTTP-CredSSP-session-encrypted"
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
    low = content_type.lower()
    multipart = "multipart/encrypted" in low or "multipart/x-multi-encrypted" in low
    return multipart and (PROTOCOL.lower() in low or CREDSSP_PROTOCOL.lower() in low)


def content_type(method: str) -> str:
    protocol = CREDSSP_PROTOCOL if method == "credssp" else PROTOCOL
    return f'multipart/encrypted;protocol="{protocol}";boundary="Encrypted Boundary"'


def decrypt(body: bytes, ctx: Sealer) -> bytes:
    """Unseal a multipart/encrypted (or x-multi-encrypted) request body: every pair of header
    and sealed parts, in order."""
    if body.endswith(_BOUNDARY + b"--\r\n"):
        body = body[: -len(_BOUNDARY + b"--\r\n")]
    parts = [p for p in body.split(_BOUNDARY + b"\r\n") if p]
    if len(parts) < 2 or len(parts) % 2:
        raise FramingError("expected header and data parts in pairs")
    plain = b""
    for header, payload in zip(parts[0::2], parts[1::2], strict=True):
        match = _LENGTH.search(header)
        if not match:
            raise FramingError("OriginalContent Length missing")
        if not payload.startswith(_OCTET):
            raise FramingError("octet-stream part missing")
        payload = payload[len(_OCTET) :]
        if len(payload) < 4:
            raise FramingError("truncated payload")
        (sig_len,) = struct.unpack("<I", payload[:4])
        chunk = ctx.unwrap(payload[4 : 4 + sig_len], payload[4 + sig_len :])
        if len(chunk) != int(match.group(1)):
            raise FramingError("decrypted length does not match OriginalContent")
        plain += chunk
    return plain


def encrypt(plain: bytes, ctx: Sealer, method: str = "ntlm") -> bytes:
    """Seal a response body in the same framing the client uses."""
    signature, sealed = ctx.wrap(plain)
    protocol = CREDSSP_PROTOCOL if method == "credssp" else PROTOCOL
    return b"".join(
        (
            _BOUNDARY,
            b"\r\n\tContent-Type: ",
            protocol.encode(),
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
