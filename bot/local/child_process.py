"""Local child processes (embedded Redis, local workers, the benchmark's servers) end with the
process that started them.

They run in sessions of their own, so a terminal's Ctrl-C reaches them only through an orderly
stop; a parent killed outright (SIGKILL, a CI time-out) used to leave redis-server and Celery
workers running forever. On Linux the kernel now sends them SIGTERM when their parent dies
(``PR_SET_PDEATHSIG``); elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def ends_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen``, or None where the kernel has no such call.

    Note: Linux tracks the parent *thread*; start long-lived children from a thread that lives
    as long as they should (the main thread, a supervisor)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork, not after it
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the call: nobody will stop us
            os._exit(1)

    return preexec


def stop_process(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
