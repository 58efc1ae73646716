"""The local console restarted on the same data folder: the requests (Redis AOF) and the
simulated hosts' state (saved every few seconds while it changes and when the console stops,
also on SIGTERM) both come back, and the console says so in one line; the cards still waiting
for approval are shown again and can be clicked. The real ``cloudsync run`` (no Slack tokens),
stdin from a pipe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
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


def _env(data_dir: Path) -> dict[str, str]:
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
    return env


CLOUDSYNC = str(Path(sys.executable).parent / "cloudsync")


def _console(data_dir: Path, script: str) -> str:
    done = subprocess.run(
        [CLOUDSYNC, "run"],
        input=script,
        capture_output=True,
        text=True,
        env=_env(data_dir),
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_restart_keeps_requests_hosts_and_the_cards_still_waiting(tmp_path: Path) -> None:
    """One restart checks all three: the requests, the simulated hosts (the agent the first run
    installed), and a card from the first run that still waits, approved by its id."""
    data = tmp_path / "data"
    first = _console(data, FIRST + ":as alice\n/cloudsync install SYNC02 --domain contoso.com\n")
    assert "Simulated hosts" not in first  # a fresh data folder: nothing to say
    assert "succeeded" in first.lower(), first
    assert (data / "simulated-hosts.json").exists()
    second = _console(data, SECOND + ":as bob\n:click approve CS-0002\n:wait\n")
    (line,) = [ln for ln in second.splitlines() if "Simulated hosts" in ln]
    assert "as the last run left them" in line and "2 request(s) kept" in line, line
    assert "started fresh" not in line
    assert "Agent: installed" in second, second  # the agent the first run installed
    assert "Still waiting for approval from an earlier run: CS-0002" in second, second
    assert "no button" not in second
    assert "bob clicks [Approve]" in second
    assert "succeeded" in second.split("bob clicks", 1)[1].lower(), second
    assert "slack answered chat.update" not in second  # the edits find the card again


def test_without_a_saved_state_the_console_says_the_hosts_start_fresh(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _console(data, "/cloudsync install SYNC02 --domain contoso.com\n")
    (data / "simulated-hosts.json").unlink()  # e.g. the last run was killed
    second = _console(data, "/cloudsync status\n")
    (line,) = [ln for ln in second.splitlines() if "Simulated hosts" in ln]
    assert "start fresh (no saved state in" in line and "1 earlier request(s) were kept" in line
    assert "their results may no longer match the hosts" in line


class _Running:
    """A console left running on an open stdin: lines are sent as typed, its output read as
    it comes (a thread), so a test can signal it at a chosen moment."""

    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [CLOUDSYNC, "run"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(data_dir),
            cwd=REPO_ROOT,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def send(self, script: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(script)
        self.proc.stdin.flush()

    def wait_for(self, text: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline, "".join(self.lines)
            assert self.proc.poll() is None, "".join(self.lines)
            time.sleep(0.1)


def _agent_saved(data: Path, host: str) -> bool:
    try:
        state = json.loads((data / "simulated-hosts.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(state["hosts"][host].get("agent_registered"))


def test_sigterm_saves_the_hosts_and_stops_quietly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    console = _Running(data)
    console.send(FIRST)
    console.wait_for("(waited")
    console.proc.send_signal(signal.SIGTERM)
    _, err = console.proc.communicate(timeout=60)
    assert console.proc.returncode == 0 and "Traceback" not in err, err
    second = _console(data, SECOND)
    (line,) = [ln for ln in second.splitlines() if "Simulated hosts" in ln]
    assert "as the last run left them" in line, line
    assert "Agent: installed" in second, second


def test_sigkill_after_the_periodic_save_keeps_the_installed_agent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    console = _Running(data)
    console.send(FIRST)
    console.wait_for("(waited")
    deadline = time.monotonic() + 30
    while not _agent_saved(data, "SYNC01"):  # the housekeeping's save, every few seconds
        assert time.monotonic() < deadline, "the simulated hosts' state was not saved"
        time.sleep(0.2)
    console.proc.kill()
    console.proc.communicate(timeout=30)
    time.sleep(2)  # its children (Redis, the worker) end with it (PR_SET_PDEATHSIG)
    second = _console(data, SECOND)
    (line,) = [ln for ln in second.splitlines() if "Simulated hosts" in ln]
    assert "as the last run left them" in line and "1 request(s) kept" in line, line
    assert "Agent: installed" in second, second
