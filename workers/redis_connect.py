"""Every Redis client of the bot and the workers is made here, from ``REDIS_URL``.

Two forms are accepted:

- a plain server: ``redis://[[user]:password@]host:6379/0`` (also ``rediss://``, ``unix://``),
  passed to redis-py and kombu unchanged;
- Redis Sentinel: ``sentinel://[[user]:password@]h1:26379,h2:26379,h3:26379/MASTER[/DB]``: the
  sentinels to ask, the name they monitor the primary under, the database (default 0). The
  password is the primary's (and its replicas'); add ``?sentinel_auth=1`` when the sentinels
  themselves require the same password (``requirepass`` in sentinel.conf).

One setting serves both libraries, so the broker, the request store, the outbox and the leases
always follow the same primary. The Sentinel form is translated for each:

- redis-py: ``redis.sentinel.Sentinel(sentinels).master_for(MASTER, db=DB)``, whose connections
  ask the sentinels for the current primary on every (re)connect
  (https://redis.readthedocs.io/en/stable/connections.html#sentinel-client);
- kombu/Celery: ``sentinel://h1:26379;sentinel://h2:26379/DB`` with the master name in
  ``broker_transport_options={"master_name": MASTER}`` (kombu's ``SentinelChannel``;
  https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import redis
from redis.sentinel import Sentinel, SentinelConnectionPool

SENTINEL_SCHEME = "sentinel"
PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_PORT = 26379
URL_FORM = "redis://HOST:6379/DB or sentinel://H1:26379,H2:26379,H3:26379/MASTER/DB"


@dataclass(frozen=True)
class SentinelTarget:
    """A primary found through Redis Sentinel (the parsed ``sentinel://`` URL)."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_auth: bool = False

    def sentinel_kwargs(self, **socket: Any) -> dict[str, Any]:
        """Connection arguments for the sentinels themselves (not the primary)."""
        auth: dict[str, Any] = {}
        if self.sentinel_auth and self.password:
            auth = {"password": self.password}
            if self.username:
                auth["username"] = self.username
        return {**socket, **auth}


def is_sentinel(url: str) -> bool:
    return url.strip().lower().startswith(f"{SENTINEL_SCHEME}://")


def parse_sentinel(url: str) -> SentinelTarget:
    """Parse our ``sentinel://`` form; ValueError (without the password) when it is not one."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, _, secret = userinfo.partition(":")
        username, password = unquote(user) or None, unquote(secret) or None
    sentinels = tuple(_host_port(item) for item in hostlist.split(",") if item.strip())
    if not sentinels:
        raise ValueError(f"no sentinel host: expected {URL_FORM}")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError(f"name the monitored primary (and the db): expected {URL_FORM}")
    master = unquote(path[0])
    try:
        db = int(path[1]) if len(path) == 2 else 0
    except ValueError:
        raise ValueError(f"the database must be a number: expected {URL_FORM}") from None
    options = parse_qs(parts.query)
    sentinel_auth = options.get("sentinel_auth", ["0"])[-1].lower() in ("1", "true", "yes")
    return SentinelTarget(sentinels, master, db, username, password, sentinel_auth)


def _host_port(item: str) -> tuple[str, int]:
    host, sep, port = item.strip().rpartition(":")
    if not sep:
        return item.strip(), SENTINEL_PORT
    if not host or not port.isdigit():
        raise ValueError(f"a sentinel must be HOST or HOST:PORT: expected {URL_FORM}")
    return host.strip("[]"), int(port)


def validate_url(url: str) -> str:
    """The setting's parser: a URL either library accepts, or ValueError naming the form."""
    text = url.strip()
    if is_sentinel(text):
        parse_sentinel(text)
        return text
    if urlsplit(text).scheme.lower() not in PLAIN_SCHEMES:
        raise ValueError(f"expected {URL_FORM}")
    return text


def connect(url: str, **kwargs: Any) -> redis.Redis:
    """A redis-py client of the current primary (``kwargs``: redis-py connection options)."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **kwargs)
    target = parse_sentinel(url)
    socket = {k: v for k, v in kwargs.items() if k.startswith("socket_")}
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=target.sentinel_kwargs(**socket))
    return sentinel.master_for(
        target.master,
        db=target.db,
        username=target.username,
        password=target.password,
        **kwargs,
    )


def like(client: redis.Redis, **overrides: Any) -> redis.Redis:
    """A client of the same server as ``client`` with other connection options (its own pool),
    e.g. a shorter ``socket_timeout``. A Sentinel-managed client stays Sentinel-managed."""
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, **overrides}
    if isinstance(pool, SentinelConnectionPool):
        kwargs.pop("connection_pool", None)  # the pool's own proxy; the new pool makes its own
        return redis.Redis(
            connection_pool=SentinelConnectionPool(
                pool.service_name,
                pool.sentinel_manager,
                is_master=pool.is_master,
                check_connection=pool.check_connection,
                **kwargs,
            )
        )
    return redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )


def broker_url(url: str) -> str:
    """The URL for kombu: a Sentinel URL becomes kombu's ``;``-separated sentinel list."""
    if not is_sentinel(url):
        return url
    target = parse_sentinel(url)
    auth = ""
    if target.password or target.username:
        auth = f"{quote(target.username or '', safe='')}:{quote(target.password or '', safe='')}@"
    # every entry carries the credentials and db: kombu reads them from the first one
    return ";".join(
        f"{SENTINEL_SCHEME}://{auth}{host}:{port}/{target.db}" for host, port in target.sentinels
    )


def broker_transport_options(url: str) -> dict[str, Any]:
    """kombu's Sentinel options for ``url`` (none for a plain server)."""
    if not is_sentinel(url):
        return {}
    target = parse_sentinel(url)
    options: dict[str, Any] = {"master_name": target.master}
    sentinel_kwargs = target.sentinel_kwargs()
    if sentinel_kwargs:
        options["sentinel_kwargs"] = sentinel_kwargs
    return options
