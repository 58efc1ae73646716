"""Process settings from the environment (never from YAML), read in this one place.

Every environment variable the product reads is one :data:`KNOBS` entry: its variable, the
:class:`Settings` field it fills, its one default and a line saying what it is for. Everything
else takes a :class:`Settings` (or values from it). README's configuration table and
``.env.example`` list exactly these variables (``tests/unit/test_settings.py`` compares them).

Not settings, and so not here: the variables that ``secrets.yaml`` names as ``env:NAME``
references (read by :class:`workers.domain.secrets.SecretsProvider` at the moment a step needs
the secret, so the value is never kept in a long-lived object), and ``PROMETHEUS_MULTIPROC_DIR``,
which the worker *sets* for prometheus_client (:mod:`workers.metrics`). Secrets (Slack tokens,
the Vault and metrics tokens) are read here, never logged, stored or shown by ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workers.domain.config import DEFAULT_CONFIG_DIR
from workers.redis_connect import validate_url as validate_redis_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"  # a worker or dispatcher without REDIS_URL


def parse_endpoints(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, addr = item.partition("=")
        out[name.strip().upper()] = addr.strip()
    return out


def format_endpoints(endpoints: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(endpoints.items()))


@dataclass(frozen=True)
class Knob:
    """One environment variable. An unset or empty variable means ``default``. A ``secret`` one
    may instead name a file in ``NAME_FILE`` (Docker secrets) and its value is never printed."""

    env: str
    field: str
    default: Any
    doc: str
    parse: Callable[[str], Any] = str
    secret: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The variables this knob reads."""
        return (self.env, f"{self.env}_FILE") if self.secret else (self.env,)


KNOBS: tuple[Knob, ...] = (
    # --- Slack
    Knob(
        "SLACK_BOT_TOKEN",
        "slack_bot_token",
        None,
        "xoxb- bot token; none: local console",
        secret=True,
    ),
    Knob("SLACK_APP_TOKEN", "slack_app_token", None, "xapp- token for Socket Mode", secret=True),
    Knob(
        "SLACK_SIGNING_SECRET",
        "slack_signing_secret",
        None,
        "HTTP mode request signing",
        secret=True,
    ),
    Knob("SLACK_API_URL", "slack_api_url", None, "Web API base URL (proxy, loopback server)"),
    # --- storage and broker
    Knob(
        "REDIS_URL",
        "redis_url",
        None,
        "Redis for broker and store (redis://, or sentinel://H1:P,H2:P/MASTER/DB for Sentinel); "
        "unset: embedded (local)",
        validate_redis_url,
    ),
    Knob("CLOUDSYNC_DATA_DIR", "data_dir", Path(".cloudsync"), "embedded Redis data, logs", Path),
    Knob("CLOUDSYNC_PREFIX", "prefix", "cs", "Redis key prefix"),
    Knob("CLOUDSYNC_CONFIG", "config_dir", DEFAULT_CONFIG_DIR, "inventory/policy/secrets", Path),
    Knob(
        "CLOUDSYNC_AUDIT_RETENTION_DAYS",
        "audit_retention_days",
        400.0,
        "days the audit stream keeps events (trimmed by age, the trim itself audited)",
        float,
    ),
    # --- engine timing
    Knob("CLOUDSYNC_LEASE_TTL", "lease_ttl_s", 30.0, "seconds a lease lives unrenewed", float),
    Knob(
        "CLOUDSYNC_VISIBILITY_TIMEOUT",
        "visibility_timeout_s",
        3600.0,
        "seconds before Redis redelivers an unacknowledged task",
        float,
    ),
    # 5 s, not the runner's former 60: a busy host requeues the run (BUSY_RETRY_S) and frees the
    # worker slot, instead of holding it idle for a minute.
    Knob(
        "CLOUDSYNC_HOST_WAIT",
        "host_wait_s",
        5.0,
        "seconds a run waits for its host before requeueing itself",
        float,
    ),
    Knob("CLOUDSYNC_BACKOFF_SCALE", "backoff_scale", 1.0, "multiply retry backoffs", float),
    # 64, not the runner's former 8: host threads mostly wait on WinRM, and registration is
    # serialized per tenant by its lease anyway.
    Knob("CLOUDSYNC_MAX_PARALLEL", "max_parallel", 64, "hosts of one request run at once", int),
    Knob(
        "CLOUDSYNC_WATCH_INTERVAL",
        "watch_interval_s",
        300.0,
        "seconds between fleet watch reads (beat); 0 = no watch",
        float,
    ),
    Knob(
        "CLOUDSYNC_SIM_ENDPOINTS",
        "sim_endpoints",
        {},
        "HOST=127.0.0.1:PORT,... of simulated hosts (set by the local stack)",
        parse_endpoints,
    ),
    # --- logs and metrics
    Knob("CLOUDSYNC_LOG_FORMAT", "log_format", "json", "json | text"),
    Knob("CLOUDSYNC_METRICS_PORT", "metrics_port", 9100, "/metrics and /healthz; 0 = off", int),
    # loopback: the container's health check reaches it, other hosts do not unless allowed
    Knob("CLOUDSYNC_METRICS_ADDR", "metrics_addr", "127.0.0.1", "address they listen on"),
    Knob(
        "CLOUDSYNC_METRICS_TOKEN",
        "metrics_token",
        None,
        "bearer token /metrics requires",
        secret=True,
    ),
    # --- secret providers
    Knob(
        "CLOUDSYNC_KEYTAB",
        "keytab",
        None,
        "client keytab of the WinRM login (Kerberos); unset: the secret's password",
    ),
    Knob("VAULT_ADDR", "vault_addr", None, "HashiCorp Vault, for vault: references"),
    Knob("VAULT_TOKEN", "vault_token", None, "its token", secret=True),
)


KNOB_DEFAULTS: dict[str, Any] = {knob.field: knob.default for knob in KNOBS}


def env_names() -> tuple[str, ...]:
    """Every variable :class:`Settings` reads, in declaration order."""
    return tuple(name for knob in KNOBS for name in knob.names)


@dataclass(frozen=True)
class Settings:
    """The values of :data:`KNOBS` (one field each, same names); build with :meth:`from_env`."""

    slack_bot_token: str | None = field(repr=False)
    slack_app_token: str | None = field(repr=False)
    slack_signing_secret: str | None = field(repr=False)
    slack_api_url: str | None
    redis_url: str | None
    data_dir: Path
    prefix: str
    config_dir: Path
    audit_retention_days: float
    lease_ttl_s: float
    visibility_timeout_s: float
    host_wait_s: float
    backoff_scale: float
    max_parallel: int
    watch_interval_s: float
    sim_endpoints: dict[str, str]  # host -> "127.0.0.1:PORT" for simulated hosts
    log_format: str
    metrics_port: int
    metrics_addr: str
    metrics_token: str | None = field(repr=False)
    keytab: str | None
    vault_addr: str | None
    vault_token: str | None = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """``env`` (tests, tools) or the process environment: the only place it is read."""
        source = dict(os.environ if env is None else env)
        return cls(**{knob.field: _read(source, knob) for knob in KNOBS})

    @property
    def has_slack(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def broker_url(self) -> str:
        return self.redis_url or DEFAULT_REDIS_URL


def _read(env: Mapping[str, str], knob: Knob) -> Any:
    text = env.get(knob.env, "").strip()
    if not text and knob.secret and env.get(f"{knob.env}_FILE"):
        path = Path(env[f"{knob.env}_FILE"])
        text = path.read_text(encoding="utf-8").strip()
    if not text:
        default = knob.default
        return dict(default) if isinstance(default, dict) else default
    try:
        return knob.parse(text)
    except ValueError:
        # a URL's user part may hold a password (REDIS_URL): never echo it either
        shown = "(hidden)" if knob.secret or "@" in text else repr(text)
        raise ValueError(f"{knob.env}={shown} is not a valid value: {knob.doc}") from None
