"""Start-up errors are one clear paragraph on stderr, never a traceback: an unreachable Redis
(serve, audit), an unreadable configuration, missing or refused Slack settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workers.domain.config import REPO_ROOT

DEAD_REDIS = "redis://:hunter2@127.0.0.1:1/0"


def _cli(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDSYNC_", "REDIS_", "VAULT_"))
    }
    base.update(
        {
            "CLOUDSYNC_DATA_DIR": str(tmp_path / "data"),
            "CLOUDSYNC_CONFIG": str(REPO_ROOT / "config" / "demo"),
            "CLOUDSYNC_METRICS_PORT": "0",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    base.update(env)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    return done.returncode, done.stderr


def _one_paragraph(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("cloudsync")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", ["serve", "audit"])
def test_unreachable_redis(tmp_path: Path, command: str) -> None:
    code, err = _cli(
        tmp_path, command, REDIS_URL=DEAD_REDIS, SLACK_BOT_TOKEN="xoxb-x", SLACK_APP_TOKEN="xapp-x"
    )
    line = _one_paragraph(err)
    assert code == 2
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in line and "REDIS_URL" in line
    assert "hunter2" not in err


def test_missing_slack_token(tmp_path: Path) -> None:
    code, err = _cli(tmp_path, "serve")
    assert code == 2
    assert "SLACK_BOT_TOKEN" in _one_paragraph(err)


def test_slack_unreachable_at_start(tmp_path: Path) -> None:
    code, err = _cli(
        tmp_path,
        "serve",
        SLACK_BOT_TOKEN="xoxb-x",
        SLACK_APP_TOKEN="xapp-x",
        SLACK_API_URL="http://127.0.0.1:1/api/",
        CLOUDSYNC_LOG_FORMAT="text",
    )
    assert code == 2
    assert "Traceback" not in err
    assert "auth.test" in err and "cloudsync doctor" in err


def test_unreadable_configuration(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config" / "demo", config)
    (config / "policy.yaml").write_bytes(b"\xff\xfe not utf-8")
    code, err = _cli(tmp_path, "audit", CLOUDSYNC_CONFIG=str(config))
    assert code == 2
    assert "cannot read the configuration" in _one_paragraph(err)


def test_bad_setting(tmp_path: Path) -> None:
    code, err = _cli(tmp_path, "audit", CLOUDSYNC_METRICS_PORT="abc")
    assert code == 2
    assert "CLOUDSYNC_METRICS_PORT" in _one_paragraph(err)
