"""``cloudsync doctor`` against the loopback Slack server, as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from simulator.slack_api import LoopbackSlack
from workers.domain.config import REPO_ROOT

DEMO = REPO_ROOT / "config" / "demo"


def _doctor(slack: LoopbackSlack, tmp_path: Path, token: str = "xoxb-doctor") -> tuple[int, str]:
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": token,
        "SLACK_API_URL": slack.api_url,
        "CLOUDSYNC_CONFIG": str(DEMO),
        "CLOUDSYNC_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(REPO_ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(REPO_ROOT),
    )
    return done.returncode, done.stdout + done.stderr


def test_doctor_names_the_missing_channel_and_scopes(tmp_path: Path) -> None:
    with LoopbackSlack(scopes=["chat:write", "commands"]) as slack:
        code, out = _doctor(slack, tmp_path)
    assert code == 1, out
    assert "scopes missing: channels:read" in out
    # without channels:read Slack refuses conversations.info: doctor says so per channel
    assert "C01OPS" in out and "missing_scope" in out


def test_doctor_says_to_invite_the_bot_then_all_good(tmp_path: Path) -> None:
    with LoopbackSlack() as slack:
        code, out = _doctor(slack, tmp_path)
        assert code == 1, out
        assert "#ops (C01OPS): the bot is not a member; type `/invite @cloudsync`" in out
        slack.invite("C01OPS")
        code, out = _doctor(slack, tmp_path)
    assert code == 0, out
    assert "all good" in out and "PROBLEM" not in out
    assert [c.method for c in slack.calls].count("conversations.info") == 2


def test_doctor_with_a_revoked_token(tmp_path: Path) -> None:
    with LoopbackSlack() as slack:
        slack.revoke("xoxb-doctor")
        code, out = _doctor(slack, tmp_path)
    assert code == 1
    assert "token_revoked" in out and "SLACK_BOT_TOKEN" in out
    assert "xoxb-doctor" not in out


def test_doctor_names_files_write_for_logs(tmp_path: Path) -> None:
    """`/cloudsync logs` uploads through files.getUploadURLExternal: an app installed before
    the manifest gained files:write is told to add it."""
    scopes = ["chat:write", "commands", "channels:read", "groups:read", "usergroups:read"]
    with LoopbackSlack(scopes=scopes, member_of=["C01OPS"]) as slack:
        code, out = _doctor(slack, tmp_path)
    assert code == 1, out
    assert "scopes missing: files:write" in out
