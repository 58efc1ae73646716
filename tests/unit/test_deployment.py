"""The deployment files agree with the code: every compose service runs a command the CLI has,
every variable they set is documented in .env.example, and the Slack manifest is complete."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.cli import _parser
from workers.domain.config import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
DOCUMENTED = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (REPO_ROOT / ".env.example").read_text(), re.M))


def _subcommands() -> set[str]:
    parser = _parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return set(action.choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_each_service_command_exists(name: str) -> None:
    service = COMPOSE["services"][name]
    command = service.get("command") or []
    if name == "redis":
        assert command[0] == "redis-server" and "--appendonly" in command
        return
    if name.startswith("redis-"):  # the sentinel profile's replica and sentinels
        assert service["profiles"] == ["sentinel"] and "redis-server" in " ".join(command)
        return
    if command[0] == "cloudsync":
        assert command[1] in _subcommands(), command
        _parser().parse_args(command[1:])  # the flags exist too
    else:
        assert command[:3] == ["celery", "-A", "workers.celery_app"], command
        import workers.celery_app  # noqa: F401  (the app the command names is importable)


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_each_variable_is_documented(name: str) -> None:
    env = COMPOSE["services"][name].get("environment") or {}
    for key in env:
        assert key in DOCUMENTED or key.removesuffix("_FILE") in DOCUMENTED, key


def _runs_the_scheduler(command: list[str]) -> bool:
    """Celery beat, on its own (``celery ... beat``) or embedded in a worker (-B / --beat)."""
    if command[:1] == ["cloudsync"]:
        return command[1:2] == ["worker"] and bool({"--beat", "-B"} & set(command))
    if command[:1] == ["celery"]:
        return "beat" in command or bool({"--beat", "-B"} & set(command))
    return False


def test_exactly_one_service_runs_the_scheduler() -> None:
    """Beat in every scaled worker would send each sweep once per worker; one service sends it."""
    services = COMPOSE["services"]
    scheduling = [n for n, s in services.items() if _runs_the_scheduler(s.get("command") or [])]
    assert scheduling == ["beat"], scheduling
    assert not _runs_the_scheduler(services["worker"]["command"])
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_dockerfile_and_healthchecks() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "cloudsync" in dockerfile
    for name in ("bot", "worker"):
        test = " ".join(COMPOSE["services"][name]["healthcheck"]["test"])
        assert "/healthz" in test


def test_manifest_declares_what_the_bot_uses() -> None:
    manifest = yaml.safe_load((REPO_ROOT / "manifest.yml").read_text())
    assert manifest["_metadata"]["major_version"] == 1
    assert {"commands", "chat:write", "usergroups:read"} <= set(
        manifest["oauth_config"]["scopes"]["bot"]
    )
    assert manifest["features"]["slash_commands"][0]["command"] == "/cloudsync"
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_the_sentinel_profile_matches_the_documented_url() -> None:
    """Optional: one replica and three sentinels watching `redis` under the master name the
    README's REDIS_URL names; the default deployment does not start them."""
    from workers.redis_connect import parse_sentinel

    services = COMPOSE["services"]
    optional = sorted(n for n, s in services.items() if "sentinel" in s.get("profiles", []))
    assert optional == ["redis-replica", "redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"]
    readme = (REPO_ROOT / "README.md").read_text()
    url = re.search(r"REDIS_URL=(sentinel://redis-sentinel\S+)", readme)
    assert url is not None
    target = parse_sentinel(url[1].strip("`"))
    assert [h for h, _ in target.sentinels] == optional[1:]
    for name in optional[1:]:
        assert f"monitor {target.master} redis 6379 2" in services[name]["command"][2]
    for name in ("bot", "worker", "beat"):
        assert services[name]["environment"]["REDIS_URL"].startswith("${REDIS_URL:-")
