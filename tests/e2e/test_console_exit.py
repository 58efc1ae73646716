"""Ctrl-C and Ctrl-D end the local console quietly: exit 0, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from workers.domain.config import REPO_ROOT


def _start(data_dir: Path) -> subprocess.Popen[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDSYNC_", "REDIS_", "VAULT_"))
    }
    env.update(
        {
            "CLOUDSYNC_DATA_DIR": str(data_dir),
            "CLOUDSYNC_CONFIG": str(REPO_ROOT / "config" / "demo"),
            "CLOUDSYNC_METRICS_PORT": "0",
        }
    )
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "cloudsync"), "console"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )


def _wait_started(proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "cloudsync console:" in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError("the console did not start")


def test_ctrl_c_ends_the_console_quietly(tmp_path: Path) -> None:
    proc = _start(tmp_path / "data")
    try:
        _wait_started(proc)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_ctrl_d_ends_the_console_quietly(tmp_path: Path) -> None:
    proc = _start(tmp_path / "data")
    try:
        _wait_started(proc)
        _out, err = proc.communicate(input="", timeout=60)  # end of input, as Ctrl-D
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
