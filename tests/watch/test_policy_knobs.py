"""The watch's policy keys: min_healthy_agents (default 2, checked) and watch_channel (default:
the first allowed channel), in the strict policy schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from workers.domain.config import REPO_ROOT, ConfigError, load_config
from workers.watch.round import watch_channel


def _config(tmp_path: Path, **policy: object) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config" / "demo", folder)
    data = yaml.safe_load((folder / "policy.yaml").read_text())
    data["policy"].update(policy)
    (folder / "policy.yaml").write_text(yaml.safe_dump(data))
    return folder


def test_defaults(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    assert config.policy.min_healthy_agents == 2
    assert watch_channel(config) == "C01OPS"


def test_set(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, min_healthy_agents=3, watch_channel="C07WATCH"))
    assert config.policy.min_healthy_agents == 3 and watch_channel(config) == "C07WATCH"


@pytest.mark.parametrize("value", [-1, "two", True])
def test_a_wrong_count_refuses_the_start(tmp_path: Path, value: object) -> None:
    with pytest.raises((ConfigError, ValueError), match="min_healthy_agents"):
        load_config(_config(tmp_path, min_healthy_agents=value))
