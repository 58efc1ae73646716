"""``logs HOST`` in the local console: the upload the worker makes is printed (file name, size,
the comment saying what was cut) and ``:save-upload PATH`` writes its bytes; ``:help`` names
every button a card or notice carries. The real ``cloudsync run`` (no Slack tokens)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from tests.e2e.test_console_restart import _console


def test_logs_upload_is_printed_and_saved(tmp_path: Path) -> None:
    target = tmp_path / "archive.zip"
    out = _console(tmp_path / "data", f"/cloudsync logs SYNC01\n:wait\n:save-upload {target}\n")
    assert "(last 24h, read-only)" in out and "last 1d" not in out
    uploaded = re.search(r"cloudsync uploaded (SYNC01-logs-\S+\.zip) \((\d+) bytes\):\n(.+)", out)
    assert uploaded, out
    assert "Agent logs of *SYNC01*, last 24h" in uploaded.group(3)
    assert f"(saved {uploaded.group(1)}, {uploaded.group(2)} bytes, to {target})" in out
    assert target.stat().st_size == int(uploaded.group(2))
    assert zipfile.is_zipfile(target)


def test_help_lists_every_click_target(tmp_path: Path) -> None:
    out = _console(tmp_path / "data", ":help\n:save-upload\n")
    for action in ("approve", "deny", "cancel", "resubmit_without", "watch_restart", "watch_check"):
        assert action in out.split(":save-upload PATH", 1)[0], action
    assert "(usage: :save-upload PATH)" in out
