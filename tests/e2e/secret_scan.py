"""What the secret scans read: a secret in the forms a careless path would carry it, and every
value a Redis server holds."""

from __future__ import annotations

import base64
import json

import redis


def forms(secret: str) -> list[str]:
    """The secret as text and in the encodings a careless path would carry it."""
    return [
        secret,
        json.dumps(secret)[1:-1],
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(secret.encode("utf-16-le")).decode(),
    ]


def redis_contents(url: str) -> str:
    """Every key's value, whatever its type, as one text."""
    client = redis.Redis.from_url(url)
    dump = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            dump.append(repr(client.get(key)))
        elif kind == "hash":
            dump.append(repr(client.hgetall(key)))
        elif kind == "list":
            dump.append(repr(client.lrange(key, 0, -1)))
        elif kind == "stream":
            dump.append(repr(client.xrange(key)))
        elif kind == "zset":
            dump.append(repr(client.zrange(key, 0, -1)))
        elif kind == "set":
            dump.append(repr(client.smembers(key)))
    client.close()
    return "\n".join(dump)
