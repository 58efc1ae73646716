"""``cloudsync doctor`` against the loopback Slack server, as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from simulator.slack_api import LoopbackSlack
from workers.domain.config import REPO_ROOT

DEMO = REPO_ROOT / "config" / "demo"


def _doctor(
    slack: LoopbackSlack | None,
    tmp_path: Path,
    token: str | None = "xoxb-doctor",
    config: Path = DEMO,
) -> tuple[int, str]:
    env = {
        **os.environ,
        "SLACK_API_URL": slack.api_url if slack else "http://127.0.0.1:9/api/",
        "CLOUDSYNC_CONFIG": str(config),
        "CLOUDSYNC_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(REPO_ROOT),
    }
    env.pop("SLACK_BOT_TOKEN", None)
    env.pop("SLACK_BOT_TOKEN_FILE", None)
    if token is not None:
        env["SLACK_BOT_TOKEN"] = token
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


def _watch_config(tmp_path: Path, channel: str) -> Path:
    """The demo configuration with the fleet watch posting in its own channel."""
    config = tmp_path / "config"
    shutil.copytree(DEMO, config)
    policy = config / "policy.yaml"
    text = policy.read_text()
    assert "\n  channels: [C01OPS]\n" in text
    policy.write_text(
        text.replace(
            "\n  channels: [C01OPS]\n", f"\n  channels: [C01OPS]\n  watch_channel: {channel}\n"
        )
    )
    return config


def test_doctor_says_what_it_checked_and_only_its_own_lines(tmp_path: Path) -> None:
    """Every line is doctor's (no slack_sdk log lines): the token, each needed scope with what
    it is for, and each channel with the bot's membership and what the channel is used for."""
    with LoopbackSlack(member_of=["C01OPS"]) as slack:
        code, out = _doctor(slack, tmp_path)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[-1] == "all good"
    assert all(line.startswith("ok: ") for line in lines[:-1]), out
    assert "ok: the token works: bot cloudsync" in out
    for scope in ("chat:write", "commands", "channels:read", "files:write (`/cloudsync logs`"):
        assert scope in out
    # the demo has no watch_channel: the fleet watch posts in the first policy channel
    assert "ok: #ops (C01OPS): the bot is a member (used for requests, fleet watch notices)" in out


def test_doctor_checks_the_fleet_watch_channel(tmp_path: Path) -> None:
    """docs/fleet.md: the bot must be invited to policy.watch_channel too."""
    config = _watch_config(tmp_path, "C09WATCH")
    with LoopbackSlack(member_of=["C01OPS"]) as slack:
        code, out = _doctor(slack, tmp_path, config=config)
        assert code == 1, out
        assert (
            "PROBLEM: #C09WATCH (C09WATCH): the bot is not a member; type `/invite @cloudsync` "
            "in it (used for fleet watch notices)" in out
        )
        assert "ok: #ops (C01OPS): the bot is a member (used for requests)" in out
        slack.invite("C09WATCH")
        code, out = _doctor(slack, tmp_path, config=config)
    assert code == 0, out
    assert "ok: #C09WATCH (C09WATCH): the bot is a member (used for fleet watch notices)" in out
    checked = [c.args.get("channel") for c in slack.calls if c.method == "conversations.info"]
    assert checked == ["C01OPS", "C09WATCH", "C01OPS", "C09WATCH"]


def test_doctor_names_missing_scopes_with_their_feature(tmp_path: Path) -> None:
    with LoopbackSlack(scopes=["commands", "channels:read"], member_of=["C01OPS"]) as slack:
        code, out = _doctor(slack, tmp_path)
    assert code == 1, out
    assert (
        "PROBLEM: scopes missing: chat:write (approval cards and answers), files:write "
        "(`/cloudsync logs` uploads)" in out
    )
    assert "ok: scopes held: commands (the /cloudsync command), channels:read" in out


def test_doctor_exits_2_without_a_token(tmp_path: Path) -> None:
    code, out = _doctor(None, tmp_path, token=None)
    assert code == 2
    assert out == "cloudsync doctor: set SLACK_BOT_TOKEN (the app's xoxb- token)\n"


def test_doctor_exits_2_when_slack_is_unreachable_in_one_line(tmp_path: Path) -> None:
    """slack_sdk retries once and logs each failure and retry itself: held back, so the only
    line is doctor's."""
    with LoopbackSlack() as slack:
        slack.unreachable()
        code, out = _doctor(slack, tmp_path)
    assert code == 2, out
    assert out.count("\n") == 1 and out.startswith("cloudsync doctor: cannot reach Slack ("), out


def test_doctor_exits_2_when_slack_answers_with_a_server_error(tmp_path: Path) -> None:
    with LoopbackSlack(member_of=["C01OPS"]) as slack:
        slack.fail_for(60, status=503)
        code, out = _doctor(slack, tmp_path)
    assert code == 2, out
    assert "NOT CHECKED: auth.test failed (service_unavailable)" in out and "PROBLEM" not in out
    assert out.splitlines()[-1] == "1 check(s) could not be made"
