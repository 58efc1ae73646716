"""Tiny stand-in processes and host, so the listener can be tested without the PowerShell engine.

They obey contract.SimProcess exactly; the real engine (simulator.host) plugs in the same
way. Commands: ``hostname``, ``cat`` (echo stdin until it ends), ``slow <seconds> <text>`` (one
line after a delay), ``big <bytes>``, ``fail <code>`` (stderr + exit code), ``sleep`` (no output
until terminated).
"""

from __future__ import annotations

import threading
import time

from simulator.contract import FaultPlan, HostRecord, OutputChunk


class StandInProcess:
    """A process whose output is produced by a script of timed steps or by stdin echo."""

    def __init__(self, echo: bool = False) -> None:
        self._cond = threading.Condition()
        self._out = bytearray()
        self._err = bytearray()
        self._exit: int | None = None
        self._echo = echo

    # producer side ------------------------------------------------------------------------
    def emit(self, out: bytes = b"", err: bytes = b"", exit_code: int | None = None) -> None:
        with self._cond:
            if self._exit is not None:
                return
            self._out += out
            self._err += err
            if exit_code is not None:
                self._exit = exit_code
            self._cond.notify_all()

    def later(self, delay: float, out: bytes, exit_code: int | None) -> None:
        def run() -> None:
            time.sleep(delay)
            self.emit(out, exit_code=exit_code)

        threading.Thread(target=run, daemon=True).start()

    # contract.SimProcess -------------------------------------------------------------------
    def feed_stdin(self, data: bytes, end: bool) -> None:
        if self._echo:
            self.emit(data, exit_code=0 if end else None)

    def read_output(self, timeout: float) -> OutputChunk:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self._out or self._err or self._exit is not None):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return OutputChunk()
                self._cond.wait(remaining)
            chunk = OutputChunk(
                bytes(self._out), bytes(self._err), self._exit is not None, self._exit
            )
            self._out.clear()
            self._err.clear()
            return chunk

    def terminate(self) -> None:
        self.emit(exit_code=-1)


class StandInHost:
    """Satisfies wsman.HostLike; records command lines like event 4688 would."""

    def __init__(self, name: str = "SIM01") -> None:
        self.name = name
        self.record = HostRecord()
        self.faults = FaultPlan()
        self.processes: list[StandInProcess] = []
        self._lock = threading.Lock()

    def start_process(
        self, command: str, arguments: list[str], *, delegated: bool = False
    ) -> StandInProcess:
        words = (command + " " + " ".join(arguments)).split()
        with self.record.lock:
            self.record.command_lines.append(" ".join(words))
        verb, rest = (words[0].lower(), words[1:]) if words else ("", [])
        proc = StandInProcess(echo=verb == "cat")
        if verb == "hostname":
            proc.emit(f"{self.name}\r\n".encode(), exit_code=0)
        elif verb == "slow":
            proc.later(float(rest[0]), " ".join(rest[1:]).encode() + b"\r\n", 0)
        elif verb == "big":
            proc.emit(b"x" * int(rest[0]), exit_code=0)
        elif verb == "fail":
            proc.emit(err=b"it failed\r\n", exit_code=int(rest[0]))
        elif verb not in ("cat", "sleep"):
            proc.emit(err=f"'{verb}' is not recognized\r\n".encode(), exit_code=1)
        with self._lock:
            self.processes.append(proc)
        return proc

    def kill_all_processes(self) -> None:
        with self._lock:
            procs, self.processes = self.processes, []
        for proc in procs:
            proc.terminate()
