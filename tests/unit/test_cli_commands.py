"""A mistyped ``cloudsync`` subcommand gets one line naming the nearest command, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import HALF_SOCKET_MODE, main
from workers.domain.config import REPO_ROOT


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["consol"], "cloudsync: unknown command 'consol': did you mean console?"),
        (
            ["audti", "--since", "2026-01-01"],
            "cloudsync: unknown command 'audti': did you mean audit?",
        ),
        (["wroker"], "cloudsync: unknown command 'wroker': did you mean worker?"),
        (
            ["instal"],
            "cloudsync: unknown command 'instal': did you mean install? That is a Slack command: "
            "type /cloudsync install ... in Slack or in the local console (cloudsync console)",
        ),
        (
            ["install", "SYNC01"],
            "cloudsync: 'install' is a Slack command: type /cloudsync install ... in Slack or in "
            "the local console (cloudsync console)",
        ),
        (
            ["zzz"],
            "cloudsync: unknown command 'zzz' (commands: run, console, serve, worker, sim, audit, "
            "doctor, slack-standin)",
        ),
    ],
)
def test_unknown_command_is_one_line_with_the_nearest(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.err == line + "\n" and out.out == ""


def test_the_real_process_exits_2_with_one_line() -> None:
    code = "import sys; from bot.cli import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", code, "instal"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "did you mean install?" in proc.stderr


def test_known_commands_and_options_still_reach_argparse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("cloudsync ")
    with pytest.raises(SystemExit) as bad_option:
        main(["audit", "--format", "xml"])
    assert bad_option.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("run", ["Without SLACK_BOT_TOKEN: the local console", "Socket Mode", "--http"]),
        ("console", ["The local console", "needs no Slack settings"]),
        ("serve", ["Only the Slack side, no workers", "SLACK_APP_TOKEN", "--http HOST:PORT"]),
        ("doctor", ["auth.test", "fleet watch", "0 all good", "1 problems found", "2 could not"]),
    ],
)
def test_each_main_command_describes_itself_in_its_help(
    command: str, words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the description
    for word in words:
        assert word in text, (word, text)


def _run_with_app_token_only(command: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``command`` with SLACK_APP_TOKEN but no SLACK_BOT_TOKEN; the configuration directory is
    missing, so the process stops right after deciding what to start (exit 2)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CLOUDSYNC_"))}
    env.update(
        {
            "SLACK_APP_TOKEN": "xapp-1-A0TEST-1-notarealtoken",
            "CLOUDSYNC_CONFIG": str(tmp_path / "no-config"),
            "CLOUDSYNC_DATA_DIR": str(tmp_path / "data"),
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(REPO_ROOT),
    )


def test_run_says_an_app_token_without_a_bot_token_is_ignored(tmp_path: Path) -> None:
    """A half-configured Socket Mode setup: `run` starts the console, and says why."""
    proc = _run_with_app_token_only("run", tmp_path)
    first = proc.stderr.splitlines()[0]
    assert first == HALF_SOCKET_MODE, proc.stderr
    assert "SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not" in first
    assert "notarealtoken" not in proc.stderr  # the token's value is never printed
    # `console` asked for the console: nothing to warn about
    console = _run_with_app_token_only("console", tmp_path)
    assert HALF_SOCKET_MODE not in console.stderr and console.returncode == 2
