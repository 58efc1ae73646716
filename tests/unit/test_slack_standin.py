"""`cloudsync slack-standin` (issue 14, point 7): the loopback Slack Web API served on its own,
for rehearsals of the HTTP path, and the signed send/click it comes with; and the simulator's
start-up banner and --help, which say what the simulated host expects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot import cli
from bot.local import extras
from bot.local.child_process import ends_with_parent
from bot.local.send import SendError, send_command
from simulator.host import INSTALLER_SHA256
from workers.domain.config import REPO_ROOT, load_config

DEMO = REPO_ROOT / "config" / "demo"


def _spawn(*argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "CLOUDSYNC_CONFIG": str(DEMO)}
    return subprocess.Popen(
        [sys.executable, "-m", *argv],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ends_with_parent(),
    )


@pytest.fixture()
def standin() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    proc = _spawn("bot.cli", "slack-standin", "--listen", "127.0.0.1:0")
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in range(3)]
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_the_standin_prints_its_url_and_token_serves_and_stops_on_sigterm(
    standin: tuple[subprocess.Popen[str], list[str]],
) -> None:
    proc, lines = standin
    assert lines[0].startswith("SLACK_API_URL=http://127.0.0.1:"), lines
    assert lines[1].startswith("SLACK_BOT_TOKEN=xoxb-")
    api_url = lines[0].removeprefix("SLACK_API_URL=")
    token = lines[1].split("=", 1)[1].split()[0]
    # the bot is a member of the configuration's channels, as after /invite
    answer = WebClient(token=token, base_url=api_url).chat_postMessage(channel="C01OPS", text="hi")
    assert answer["ok"]
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("posted in C01OPS (")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_the_standin_says_when_the_sim_extra_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(extras, "simulator_available", lambda: False)
    assert cli.main(["slack-standin", "--listen", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert "slack-standin" in err and "'sim' extra" in err and extras.SIM_EXTRA_HINT in err


def test_the_standin_listens_on_loopback_only(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.slack_api import main

    assert main(["--listen", "0.0.0.0:3100"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_send_names_the_users_it_knows_and_needs_the_signing_secret() -> None:
    config = load_config(DEMO)
    common = {"url": "http://127.0.0.1:9/slack/events", "api_url": "http://127.0.0.1:9/api/"}
    with pytest.raises(SendError, match=r"no user 'zed'.*alice, bob, carol"):
        send_command(config, secret="s", user="zed", text="help", **common)
    with pytest.raises(SendError, match="SLACK_SIGNING_SECRET"):
        send_command(config, secret=None, user="alice", text="help", **common)
    with pytest.raises(SendError, match="cannot reach the bot"):
        send_command(config, secret="s", user="alice", text="help", **common)


def test_sim_help_lists_the_built_in_accounts_and_the_installer_hash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from simulator import cli as sim_cli

    with pytest.raises(SystemExit):
        sim_cli.main(["--help"])
    out = capsys.readouterr().out
    assert INSTALLER_SHA256 in out
    assert "hybrid-admin@contoso.onmicrosoft.com" in out and "CONTOSO\\Administrator" in out
    assert "Pass-1!" not in out  # the built-in passwords are never shown


def test_sim_banner_lists_accounts_hash_and_scenario_never_a_password() -> None:
    proc = _spawn(
        "simulator.cli", "--listen", "127.0.0.1:0", "--account", "CONTOSO\\svc-x:Banner-Pw-3"
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(6)]
        assert lines[0].startswith("listening on http://127.0.0.1:")
        banner = "\n".join(lines[1:])
        assert "scenario: none" in banner
        assert "SIM01: WinRM logons: CONTOSO\\svc-x" in banner
        assert "hybrid-admin@contoso.onmicrosoft.com" in banner
        assert INSTALLER_SHA256 in banner
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert "Banner-Pw-3" not in banner + proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
