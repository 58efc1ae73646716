"""The seam between the simulator's WS-Management server and its PowerShell engine.

The wsman package (HTTP, NTLM, shells, commands) knows nothing about PowerShell; it starts
processes through ``ProcessFactory`` and moves bytes in and out of them. The pwsh package
implements the processes and the modelled host. Faults and the host's record live here because
both sides read and write them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass
class OutputChunk:
    """What one Receive can return: any output so far, and whether the process has exited."""

    stdout: bytes = b""
    stderr: bytes = b""
    done: bool = False
    exit_code: int | None = None


class SimProcess(Protocol):
    """A process running inside a simulated shell (powershell.exe or a cmd.exe builtin)."""

    def feed_stdin(self, data: bytes, end: bool) -> None:
        """Deliver stdin bytes (a WS-Man Send); ``end`` closes stdin."""

    def read_output(self, timeout: float) -> OutputChunk:
        """Wait up to ``timeout`` seconds for output or exit; return what is there (maybe empty)."""

    def terminate(self) -> None:
        """The terminate signal: stop at once, exit code -1 (ctrl_c is treated the same)."""


class ProcessFactory(Protocol):
    def __call__(
        self, command: str, arguments: list[str], *, delegated: bool = False
    ) -> SimProcess:
        """Start ``command`` with ``arguments`` as WS-Man's CommandLine gave them."""


FaultKind = Literal["latency", "hang", "drop", "http500", "restart_service", "fail", "tamper"]
HTTP_FAULT_KINDS = ("drop", "http500", "restart_service")


@dataclass
class Fault:
    """A fault on demand.

    - ``cmdlet`` set: fires when that cmdlet runs on this host. ``latency`` adds ``seconds`` to
      the cmdlet, ``hang`` blocks it until terminated, ``fail`` makes it throw ``message``,
      ``tamper`` has another local process rewrite the file ``path`` just before the cmdlet
      runs (refused while a handle's share mode denies writes);
      ``drop``/``http500``/``restart_service`` are armed and fire at the next WS-Man request
      (optionally only of ``operation``) while or after that cmdlet runs; with
      ``after="done"`` they are armed only once the cmdlet has done its work, so the request
      they hit is one that would carry its result (a lost answer to a finished step).
    - ``cmdlet`` None: fires on the next WS-Man request (of ``operation`` if given): ``latency``
      delays the response, ``drop`` closes the connection without answering, ``http500`` answers
      500 with an internal-error fault, ``restart_service`` drops every shell (their processes are
      killed) and answers the request as the restarted service would (unknown shell ->
      InvalidSelectors).
    ``times`` is how often it fires; 0 means every time.
    """

    kind: FaultKind
    cmdlet: str | None = None
    operation: str | None = None  # Create, Command, Send, Receive, Signal, Delete
    seconds: float = 0.0
    times: int = 1
    message: str | None = None
    after: str = "start"  # HTTP-level cmdlet faults: armed at the cmdlet's start, or "done"
    path: str | None = None  # tamper: the file rewritten
    fired: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cmdlet": self.cmdlet,
            "operation": self.operation,
            "seconds": self.seconds,
            "times": self.times,
            "message": self.message,
            "after": self.after,
            "path": self.path,
            "fired": self.fired,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        return cls(
            kind=data["kind"],
            cmdlet=data.get("cmdlet"),
            operation=data.get("operation"),
            seconds=float(data.get("seconds", 0.0)),
            after=str(data.get("after", "start")),
            times=int(data.get("times", 1)),
            message=data.get("message"),
            path=data.get("path"),
        )


class FaultPlan:
    """Thread-safe list of faults for one host."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = list(faults or [])
        self._armed: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._armed.clear()

    def all(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _fire(self, fault: Fault) -> None:
        fault.fired += 1
        if fault.times and fault.fired >= fault.times:
            self._faults.remove(fault)

    def take_cmdlet(self, cmdlet: str) -> tuple[list[Fault], list[Fault]]:
        """Called by the engine when ``cmdlet`` starts: arms its HTTP-level faults for the
        server and returns (the cmdlet-level faults to apply now: latency, hang, fail; the
        HTTP-level ones with ``after="done"``, to :meth:`arm` once the cmdlet has done its work)."""
        now: list[Fault] = []
        later: list[Fault] = []
        with self._lock:
            for fault in list(self._faults):
                if fault.cmdlet is None or fault.cmdlet.lower() != cmdlet.lower():
                    continue
                self._fire(fault)
                if fault.kind not in HTTP_FAULT_KINDS:
                    now.append(fault)
                elif fault.after == "done":
                    later.append(fault)
                else:
                    self._armed.append(fault)
        return now, later

    def arm(self, faults: list[Fault]) -> None:
        """Make HTTP-level faults hit the server's next matching request."""
        with self._lock:
            self._armed.extend(faults)

    def take_http(self, operation: str) -> Fault | None:
        """Called by the server for each WS-Man request: the HTTP-level fault to apply, if any."""
        with self._lock:
            for fault in list(self._armed):
                if fault.operation in (None, operation):
                    self._armed.remove(fault)
                    return fault
            for fault in list(self._faults):
                if fault.cmdlet is not None:
                    continue
                if fault.operation not in (None, operation):
                    continue
                self._fire(fault)
                return fault
        return None


@dataclass
class CmdletCall:
    """One cmdlet invocation as the host saw it (parameter names only: never values)."""

    host: str
    session: str
    name: str
    parameters: list[str]
    started: float
    finished: float = 0.0
    modelled_s: float = 0.0
    ok: bool = True
    error: str | None = None


@dataclass
class HostRecord:
    """What the host saw, as Windows logging would have kept it.

    ``script_blocks``: every script block compiled (script-block logging, event 4104): the script
    of -EncodedCommand, each statement fed to -Command -, each [scriptblock]::Create. Data that a
    script reads with [Console]::In.ReadLine() is NOT a script block.
    ``command_lines``: every process creation (event 4688) including powershell.exe and
    Start-Process children. ``events``: named state changes (installer_run, domain_added,
    gmsa_created, agent_registered, service_restarted, writeback_set, permissions_set, ...).
    ``module_log``: with Module Logging on (the host's ``module_logging``), one entry per cmdlet
    call with its parameter bindings as text, as event 4103 in Microsoft-Windows-PowerShell/
    Operational holds them ("ParameterBinding(Cmdlet): name=...; value=..."; Microsoft Learn,
    about_Logging_Windows); pipeline input is bound as ``InputObject``.
    ``winrs_commands``: each WinRS Command as the listener received it, with its stdin mode
    (``WINRS_CONSOLEMODE_STDIN``: console if TRUE, pipe if FALSE; MS-WSMV 3.1.4.11).
    """

    script_blocks: list[str] = field(default_factory=list)
    command_lines: list[str] = field(default_factory=list)
    cmdlets: list[CmdletCall] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    module_log: list[dict[str, Any]] = field(default_factory=list)
    winrs_commands: list[dict[str, Any]] = field(default_factory=list)
    http_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def event(self, name: str, **data: Any) -> None:
        with self.lock:
            self.events.append({"event": name, "t": time.time(), **data})

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "script_blocks": list(self.script_blocks),
                "command_lines": list(self.command_lines),
                "cmdlets": [c.__dict__.copy() for c in self.cmdlets],
                "events": list(self.events),
                "module_log": [dict(m) for m in self.module_log],
                "winrs_commands": [dict(c) for c in self.winrs_commands],
                "http_requests": self.http_requests,
            }
