"""Signed Slack request headers, built exactly as Slack builds them (v0 HMAC-SHA256).

Used by the local console (for Bolt's real dispatch), the end-to-end tests and the benchmarks:
requests are signed, never sent with verification turned off."""

from __future__ import annotations

import time

from slack_sdk.signature import SignatureVerifier

FORM = "application/x-www-form-urlencoded"


def signed_headers(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {
        "content-type": FORM,
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": signature or "",
    }
