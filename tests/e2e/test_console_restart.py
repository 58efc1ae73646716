"""The local console restarted on the same data folder: the requests (Redis AOF) and the
simulated hosts' state (saved when the console stops) both come back, and the console says so
in one line. The real ``cloudsync run`` (no Slack tokens), stdin from a pipe, twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from workers.domain.config import REPO_ROOT

FIRST = """\
/cloudsync install SYNC01 --domain contoso.com
:as bob
:click approve
:wait
"""
SECOND = """\
/cloudsync check SYNC01
:wait
"""


def _console(data_dir: Path, script: str) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDSYNC_", "REDIS_", "VAULT_"))
    }
    env.update(
        {
            "CLOUDSYNC_DATA_DIR": str(data_dir),
            "CLOUDSYNC_CONFIG": str(REPO_ROOT / "config" / "demo"),
            "CLOUDSYNC_LOG_FORMAT": "text",
        }
    )
    cloudsync = Path(sys.executable).parent / "cloudsync"
    done = subprocess.run(
        [str(cloudsync), "run"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_restart_keeps_requests_and_simulated_hosts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = _console(data, FIRST)
    assert "Simulated hosts" not in first  # a fresh data folder: nothing to say
    assert "succeeded" in first.lower(), first
    assert (data / "simulated-hosts.json").exists()
    second = _console(data, SECOND)
    (line,) = [ln for ln in second.splitlines() if "Simulated hosts" in ln]
    assert "as the last run left them" in line and "1 request(s) kept" in line, line
    assert "started fresh" not in line
    assert "Agent: installed" in second, second  # the agent the first run installed


def test_without_a_saved_state_the_console_says_the_hosts_start_fresh(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _console(data, "/cloudsync install SYNC02 --domain contoso.com\n")
    (data / "simulated-hosts.json").unlink()  # e.g. the last run was killed
    second = _console(data, "/cloudsync status\n")
    (line,) = [ln for ln in second.splitlines() if "Simulated hosts" in ln]
    assert "start fresh (no saved state in" in line and "1 earlier request(s) were kept" in line
