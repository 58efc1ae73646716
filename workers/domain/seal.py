"""Approval seals: the bot signs each approval decision, the worker checks it before a run.

Redis is not trusted to say what was approved: anyone who can write there could otherwise
queue a request nobody approved, copy approvals from another request, or change a host or a
domain after approval. The bot and the workers share a key that Redis never sees (the secret
``approval_signing_key`` in ``secrets.yaml``, resolved by the secrets provider like the others);
every MAC is HMAC-SHA256 over a canonical JSON, compared in constant time.

Two seals: each approval carries its own (the request id, who asked, the change, the plan hash
it approved, the approver, the time), so an approval added to a request in Redis never counts,
not even towards an N-of-M round that a real approver completes; and the completed decision
carries one over everything the run depends on (the change, the plan hash, every approval, how
many were needed, who completed the round and when, each host's preflight fingerprint, and the
``retry --from`` step, re-sealed by the bot's retry).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from workers.domain.config import Config
from workers.domain.model import Approval, Request
from workers.domain.secrets import SecretError, SecretsProvider

SIGNING_SECRET = "approval_signing_key"
VERSION = "v1"
MIN_KEY_LENGTH = 32


class SealError(Exception):
    """The key could not be had (the message names the secret, never a value)."""


def approval_payload(request: Request, approval: Approval) -> dict[str, Any]:
    """What one approver approved."""
    return {
        "v": VERSION,
        "kind": "approval",
        "request": request.id,
        "requester": request.requester,
        "change": request.change.to_dict(),
        "plan_hash": approval.request_hash,
        "user": approval.user,
        "at": approval.at,
    }


def decision(request: Request) -> dict[str, Any]:
    """What the completed decision binds; any change to one of these voids the seal."""
    return {
        "v": VERSION,
        "kind": "decision",
        "request": request.id,
        "requester": request.requester,
        "change": request.change.to_dict(),
        "plan_hash": request.request_hash,
        "approvals": [a.to_dict() for a in request.approvals],
        "approvals_needed": request.approvals_needed,
        "decided_by": request.decided_by,
        "decided_at": request.decided_at,
        "fingerprints": {h: p.fingerprint for h, p in sorted(request.preflight.items())},
        "retry_from": request.retry_from,
    }


def canonical(data: dict[str, Any]) -> bytes:
    """One byte string per value: sorted keys, no spaces, ASCII only, no NaN."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


class ApprovalSealer:
    """Signs and checks approvals and decisions with the shared key, resolved on first use."""

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

    def _mac(self, payload: dict[str, Any]) -> str:
        if self._key is None:
            value = self._key_source()
            if len(value) < MIN_KEY_LENGTH:
                raise SealError(
                    f"secret '{SIGNING_SECRET}' is shorter than {MIN_KEY_LENGTH} characters"
                )
            self._key = value.encode("utf-8")
        digest = hmac.new(self._key, canonical(payload), hashlib.sha256).hexdigest()
        return f"{VERSION}:{digest}"

    def unavailable(self) -> str | None:
        """Why nothing can be signed or checked now (the key is missing or weak), or None."""
        try:
            self._mac({})
        except SealError as exc:
            return str(exc)
        return None

    # one approval ----------------------------------------------------------------------
    def sign_approval(self, request: Request, approval: Approval) -> str:
        return self._mac(approval_payload(request, approval))

    def approval_valid(self, request: Request, approval: Approval) -> bool:
        if not approval.seal:
            return False
        try:
            expected = self.sign_approval(request, approval)
        except SealError:
            return False
        return hmac.compare_digest(expected.encode(), approval.seal.encode())

    def genuine(self, request: Request) -> Request:
        """The request with only the approvals the bot signed (for counting them)."""
        kept = [a for a in request.approvals if self.approval_valid(request, a)]
        return replace(request, approvals=kept)

    # the decision ----------------------------------------------------------------------
    def seal(self, request: Request) -> str:
        return self._mac(decision(request))

    def refusal(self, request: Request) -> str | None:
        """Why the decision seal does not vouch for this request (None when it does)."""
        if not request.approval_seal:
            return f"{request.id} carries no approval seal: the bot never approved it"
        try:
            expected = self.seal(request)
        except SealError as exc:
            return f"the approval seal of {request.id} cannot be checked ({exc})"
        if not hmac.compare_digest(expected.encode(), request.approval_seal.encode()):
            return (
                f"the approval seal of {request.id} does not match what is stored: the request "
                "was written or changed outside the bot after its approval"
            )
        return None
