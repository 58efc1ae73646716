"""The console's typed lines (issue 14, point 11): line editing and a history kept between
sessions (readline), and Ctrl-D ends the session cleanly."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from bot.local.console import typed_lines


def test_typed_lines_keep_a_history_between_sessions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readline = pytest.importorskip("readline")
    history = tmp_path / "data" / "console_history"
    typed = iter(["/cloudsync status", ":wait"])
    prompts: list[str] = []

    def fake_input(prompt: str = "") -> str:  # the terminal: builtins.input, not our code
        prompts.append(prompt)
        try:
            line = next(typed)
        except StopIteration:
            raise EOFError from None
        readline.add_history(line)  # what input() does with readline loaded at a terminal
        return line

    monkeypatch.setattr(builtins, "input", fake_input)
    readline.clear_history()
    assert list(typed_lines(lambda: "alice> ", history)) == ["/cloudsync status", ":wait"]
    assert prompts == ["alice> "] * 3
    assert capsys.readouterr().out == "\n"  # Ctrl-D ends the prompt's line
    assert history.read_text().split() == ["/cloudsync", "status", ":wait"]
    readline.clear_history()
    monkeypatch.setattr(builtins, "input", lambda prompt="": (_ for _ in ()).throw(EOFError))
    assert list(typed_lines(lambda: "alice> ", history)) == []
    assert readline.get_history_item(1) == "/cloudsync status"  # read back in the next session
