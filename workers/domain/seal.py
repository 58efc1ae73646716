"""Approval seals: the bot signs each approval decision, the worker checks it before a run.

Redis is not trusted to say what was approved: anyone who can write there could otherwise
queue a request nobody approved, copy approvals from another request, or change a host or a
domain after approval. The bot and the workers share a key that Redis never sees (the secret
``approval_signing_key`` in ``secrets.yaml``, resolved by the secrets provider like the others);
the seal is HMAC-SHA256 over a canonical JSON of the decision: the request id, who asked, the
change, the plan hash, every approval (who, when, for which hash), how many were needed, who
completed the round and when. The worker recomputes it from what it read and compares in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from workers.domain.config import Config
from workers.domain.model import Request
from workers.domain.secrets import SecretError, SecretsProvider

SIGNING_SECRET = "approval_signing_key"
VERSION = "v1"


class SealError(Exception):
    """The key could not be had (the message names the secret, never a value)."""


def decision(request: Request) -> dict[str, Any]:
    """What an approval decision binds; any change to one of these voids the seal."""
    return {
        "v": VERSION,
        "request": request.id,
        "requester": request.requester,
        "change": request.change.to_dict(),
        "plan_hash": request.request_hash,
        "approvals": [a.to_dict() for a in request.approvals],
        "approvals_needed": request.approvals_needed,
        "decided_by": request.decided_by,
        "decided_at": request.decided_at,
    }


def canonical(data: dict[str, Any]) -> bytes:
    """One byte string per value: sorted keys, no spaces, ASCII only, no NaN."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


class ApprovalSealer:
    """Signs and checks decisions with the shared key, resolved on first use."""

    def __init__(self, key: Callable[[], str]) -> None:
        self._key_source = key
        self._key: bytes | None = None

    @classmethod
    def from_config(cls, config: Config, secrets: SecretsProvider | None = None) -> ApprovalSealer:
        """The key from ``secrets.yaml`` (``approval_signing_key``) through the secrets
        provider, so it is redacted from logs like every other secret."""

        def key() -> str:
            provider = secrets if secrets is not None else SecretsProvider(config)
            try:
                return str(provider.get(SIGNING_SECRET).password)
            except SecretError as exc:
                raise SealError(str(exc)) from None

        return cls(key)

    def _mac(self, request: Request) -> str:
        if self._key is None:
            value = self._key_source()
            if len(value) < 32:
                raise SealError(f"secret '{SIGNING_SECRET}' is shorter than 32 characters")
            self._key = value.encode("utf-8")
        digest = hmac.new(self._key, canonical(decision(request)), hashlib.sha256).hexdigest()
        return f"{VERSION}:{digest}"

    def seal(self, request: Request) -> str:
        return self._mac(request)

    def refusal(self, request: Request) -> str | None:
        """Why the seal does not vouch for this request (None when it does)."""
        if not request.approval_seal:
            return f"{request.id} carries no approval seal: the bot never approved it"
        try:
            expected = self._mac(request)
        except SealError as exc:
            return f"the approval seal of {request.id} cannot be checked ({exc})"
        if not hmac.compare_digest(expected.encode(), request.approval_seal.encode()):
            return (
                f"the approval seal of {request.id} does not match what is stored: the request "
                "was written or changed outside the bot after its approval"
            )
        return None
