"""A mistyped ``cloudsync`` subcommand gets one line naming the nearest command, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.cli import main


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
