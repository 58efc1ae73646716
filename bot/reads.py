"""Guards for the read commands: refusals on the audit trail, a per-user rate limit on the reads
that open WinRM sessions with the admin login (``check``, ``agents``), and one session per host
shared by everyone who asks while it runs.

All state is in Redis (small counters and lists with expiry), so several bot threads or
processes agree, and nothing is left behind once the window passes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from workers.domain.store import RequestStore
from workers.support_logs import LOGS_TIME_LIMIT_S


@dataclass(frozen=True)
class ReadLimits:
    """``per_user`` WinRM-opening reads per ``window_s`` seconds; a check asked for while one of
    the same host runs joins it for up to ``join_s`` seconds; a log collection holds its host
    for up to ``logs_hold_s`` (as long as the collection may run, its upload retries included)."""

    per_user: int = 6
    window_s: int = 60
    join_s: int = 60
    logs_hold_s: int = int(LOGS_TIME_LIMIT_S)


_RATE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 1 then ttl = 1 end
  return ttl
end
return 0
"""

_JOIN = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 0
"""


def record_refusal(store: RequestStore, user: str, action: str, reason: str) -> None:
    """The one audit shape for a refused action (no request id when there is none)."""
    store.record("", "refused", actor=user, data={"action": action, "reason": reason})


def wait_before_next_read(store: RequestStore, limits: ReadLimits, user: str) -> int:
    """0 when ``user`` may open another WinRM read now; else the seconds until they may."""
    key = f"{store.prefix}:read-rate:{user}"
    script: Any = store.redis.register_script(_RATE)
    return int(script(keys=[key], args=[limits.window_s, limits.per_user]))


def _inflight_key(store: RequestStore, target: str) -> str:
    return f"{store.prefix}:read-inflight:{target}"


def _waiters_key(store: RequestStore, target: str) -> str:
    return f"{store.prefix}:read-waiters:{target}"


def check_target(host: str) -> str:
    return f"check:{host}"


AGENTS_TARGET = "agents"


def logs_target(host: str) -> str:
    """One log collection per host at a time: whoever asks meanwhile joins it."""
    return f"logs:{host}"


def lead_or_join(
    store: RequestStore,
    limits: ReadLimits,
    target: str,
    channel: str,
    user: str,
    hold_s: int | None = None,
) -> bool:
    """True: no read of ``target`` runs, the caller starts one. False: one runs; the caller was
    added to its waiters and gets the same answer (one WinRM session for all of them). The
    guard lapses after ``hold_s`` (default ``limits.join_s``) unless the answer releases it."""
    asker = json.dumps({"channel": channel, "user": user})
    script: Any = store.redis.register_script(_JOIN)
    keys = [_inflight_key(store, target), _waiters_key(store, target)]
    return bool(script(keys=keys, args=[asker, hold_s or limits.join_s]))


def waiter_keys(store: RequestStore, target: str) -> tuple[str, str]:
    """(the joiners' list, the in-flight guard) of the read of ``target``: the projector reads
    the list and deletes both in its own transaction, with the answers it enqueues."""
    return _waiters_key(store, target), _inflight_key(store, target)


def take_waiters(store: RequestStore, target: str) -> list[tuple[str, str]]:
    """The askers who joined the read of ``target``, once; the next ask starts a new read."""
    pipe = store.redis.pipeline(transaction=True)
    pipe.lrange(_waiters_key(store, target), 0, -1)
    pipe.delete(_waiters_key(store, target))
    pipe.delete(_inflight_key(store, target))
    raw, _, _ = pipe.execute()
    return parse_waiters(raw)


def parse_waiters(raw: Any) -> list[tuple[str, str]]:
    """The distinct (channel, user) askers of a waiters list as LRANGE returned it."""
    out: list[tuple[str, str]] = []
    for item in raw or []:
        try:
            data = json.loads(item)
        except ValueError:
            continue
        pair = (str(data.get("channel", "")), str(data.get("user", "")))
        if all(pair) and pair not in out:
            out.append(pair)
    return out
