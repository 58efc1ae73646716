"""Small drivers for tests and tools: run a script in a fresh process and collect its output."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from ..contract import SimProcess
from ..host import SimHost


@dataclass
class Result:
    stdout: str
    stderr: str
    exit_code: int | None


def encode_command(script: str) -> str:
    """What pywinrm's run_ps and the runbook send: base64 of UTF-16LE."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def collect(proc: SimProcess, timeout: float = 20.0) -> Result:
    """Read until the process exits (or ``timeout``, then terminate it)."""
    out = bytearray()
    err = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        chunk = proc.read_output(0.5)
        out += chunk.stdout
        err += chunk.stderr
        if chunk.done:
            return Result(out.decode("utf-8"), err.decode("utf-8"), chunk.exit_code)
        if time.monotonic() > deadline:
            proc.terminate()


def run_encoded(
    host: SimHost, script: str, stdin: str | None = None, timeout: float = 20.0
) -> Result:
    """``powershell -encodedcommand <b64>`` exactly as pywinrm's run_ps sends it."""
    proc = host.start_process(f"powershell -encodedcommand {encode_command(script)}", [])
    proc.feed_stdin((stdin or "").encode("utf-8"), True)
    return collect(proc, timeout)


def run_stdin(host: SimHost, statements: list[str], timeout: float = 20.0) -> Result:
    """One ``powershell.exe -NoProfile -NonInteractive -Command -`` fed statement by statement."""
    proc = host.start_process("powershell.exe", ["-NoProfile", "-NonInteractive", "-Command", "-"])
    for s in statements:
        proc.feed_stdin((s + "\r\n").encode("utf-8"), False)
    proc.feed_stdin(b"", True)
    return collect(proc, timeout)


def clean_clixml(stderr: str) -> str:
    """The text pywinrm's Session._clean_error_msg would show."""
    import winrm

    session = winrm.Session.__new__(winrm.Session)
    cleaned: bytes = session._clean_error_msg(stderr.encode("utf-8"))
    return cleaned.decode("utf-8")
