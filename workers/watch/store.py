"""The watch's state in Redis: last known state per host and tenant, paused hosts, notice keys.

Small hashes of JSON under ``{prefix}:watch:``; the bot reads them for ``watch status`` and App
Home, the beat task writes them. A notice is recorded once per host + change + sequence number
(``SET NX``), so a watch round run again after a crash does not post a change twice.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from workers.watch.detector import HostWatch, TenantWatch

NOTICE_KEY_TTL_S = 30 * 24 * 3600


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class WatchStore:
    def __init__(self, client: redis.Redis, prefix: str = "cs") -> None:
        self.redis = client
        self.prefix = prefix

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, "watch", *parts))

    # host and tenant states -------------------------------------------------------------
    def hosts(self) -> dict[str, HostWatch]:
        raw: Any = self.redis.hgetall(self._k("hosts"))
        return {_text(k): HostWatch.from_dict(json.loads(_text(v))) for k, v in raw.items()}

    def save_hosts(self, states: dict[str, HostWatch]) -> None:
        if states:
            mapping = {h: json.dumps(s.to_dict()) for h, s in states.items()}
            self.redis.hset(self._k("hosts"), mapping=mapping)  # type: ignore[arg-type]

    def tenants(self) -> dict[str, TenantWatch]:
        raw: Any = self.redis.hgetall(self._k("tenants"))
        return {_text(k): TenantWatch.from_dict(json.loads(_text(v))) for k, v in raw.items()}

    def save_tenants(self, states: dict[str, TenantWatch]) -> None:
        if states:
            mapping = {t: json.dumps(s.to_dict()) for t, s in states.items()}
            self.redis.hset(self._k("tenants"), mapping=mapping)  # type: ignore[arg-type]

    # pause ------------------------------------------------------------------------------
    def paused(self) -> dict[str, dict[str, Any]]:
        """host -> {by, at}: hosts the watch does not read until resumed."""
        raw: Any = self.redis.hgetall(self._k("paused"))
        return {_text(k): json.loads(_text(v)) for k, v in raw.items()}

    def pause(self, host: str, user: str, now: float | None = None) -> bool:
        """True when the host was not paused before."""
        at = time.time() if now is None else now
        value = json.dumps({"by": user, "at": at})
        return bool(self.redis.hsetnx(self._k("paused"), host, value))

    def resume(self, host: str) -> bool:
        """True when the host was paused. Its half-seen changes are dropped: two fresh reads."""
        if not self.redis.hdel(self._k("paused"), host):
            return False
        states = self.hosts()
        if host in states:
            states[host].pending = {}
            self.save_hosts({host: states[host]})
        return True

    # notices and the round lock -----------------------------------------------------------
    def first_notice(self, key: str) -> bool:
        """True the first time a notice key is claimed (host + change + seq)."""
        return bool(self.redis.set(self._k("told", key), "1", nx=True, ex=NOTICE_KEY_TTL_S))

    def claim_round(self, token: str, ttl_s: float) -> bool:
        """One watch round at a time (a beat tick and a manual trigger may overlap)."""
        ttl = max(1, int(ttl_s))
        return bool(self.redis.set(self._k("round"), token, nx=True, ex=ttl))

    def round_running(self) -> bool:
        return bool(self.redis.exists(self._k("round")))

    def release_round(self, token: str) -> None:
        held = self.redis.get(self._k("round"))
        if held is not None and _text(held) == token:
            self.redis.delete(self._k("round"))
