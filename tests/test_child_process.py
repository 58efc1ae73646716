"""Local child processes end with their parent, even one killed outright."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest

from tests.support import eventually
from workers.domain.config import REPO_ROOT

STARTS_REDIS = """
import time
from bot.local.redis_embedded import EmbeddedRedis
server = EmbeddedRedis(appendonly=False).start()
print(server.process.pid, flush=True)
time.sleep(60)
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_embedded_redis_ends_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", STARTS_REDIS], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    assert parent.stdout is not None
    redis_pid = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no finally, no atexit
    parent.wait()
    try:
        eventually(lambda: _gone(redis_pid), timeout=10, interval=0.05, what="redis-server to end")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(redis_pid, signal.SIGKILL)
