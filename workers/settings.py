"""Process settings from the environment (never from YAML): where Redis is, Slack endpoints,
pacing knobs. Secrets (Slack tokens) are read here but never logged or stored."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _float(env: dict[str, str], name: str, default: float) -> float:
    value = env.get(name)
    return float(value) if value else default


@dataclass(frozen=True)
class Settings:
    redis_url: str | None
    data_dir: Path
    slack_bot_token: str | None
    slack_app_token: str | None
    slack_signing_secret: str | None
    slack_api_url: str | None
    prefix: str
    lease_ttl_s: float
    sim_endpoints: dict[str, str]  # host -> "127.0.0.1:PORT" for simulated hosts
    log_format: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            redis_url=env.get("REDIS_URL") or None,
            data_dir=Path(env.get("CLOUDSYNC_DATA_DIR") or ".cloudsync"),
            slack_bot_token=_secret_env(env, "SLACK_BOT_TOKEN"),
            slack_app_token=_secret_env(env, "SLACK_APP_TOKEN"),
            slack_signing_secret=_secret_env(env, "SLACK_SIGNING_SECRET"),
            slack_api_url=env.get("SLACK_API_URL") or None,
            prefix=env.get("CLOUDSYNC_PREFIX") or "cs",
            lease_ttl_s=_float(env, "CLOUDSYNC_LEASE_TTL", 30.0),
            sim_endpoints=parse_endpoints(env.get("CLOUDSYNC_SIM_ENDPOINTS", "")),
            log_format=env.get("CLOUDSYNC_LOG_FORMAT") or "json",
        )

    @property
    def has_slack(self) -> bool:
        return bool(self.slack_bot_token)


def _secret_env(env: dict[str, str], name: str) -> str | None:
    """NAME, or the contents of the file named by NAME_FILE (Docker secrets)."""
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return None


def parse_endpoints(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, addr = item.partition("=")
        out[name.strip().upper()] = addr.strip()
    return out


def format_endpoints(endpoints: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(endpoints.items()))
