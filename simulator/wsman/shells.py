"""The Windows Remote Shell resource: shells, commands and their streams.

Knows nothing about HTTP or authentication: it turns a parsed request into a response body or a
WsmanFault, starting processes through the host (contract.ProcessFactory semantics).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

from simulator.contract import FaultPlan, HostRecord, SimProcess
from simulator.wsman import soap
from simulator.wsman.soap import NS, Request

log = logging.getLogger(__name__)
RECEIVE_CAP = 64 * 1024  # bytes of output per Receive, so long output takes several Receives
DEFAULT_QUOTA = 10000
DEFAULT_IDLE_TIMEOUT = 7200.0  # seconds; Windows answers PT7200.000S unless asked otherwise

# The executables on the simulated disk. Only a Command with WINRS_SKIP_CMD_SHELL=TRUE looks
# here: without cmd.exe there is nobody to say "is not recognized", and Windows refuses the
# Command itself (test_winrs_no_cmd_shell.yml). Without cmd.exe nothing searches the PATH either:
# the recorded exchange refused a bare powershell.exe and ran only the full path (pypsrp's test:
# "you need to provide the full path when not running in cmd shell"), so a bare name is refused.
_SYSTEM32 = "c:\\windows\\system32"
_ON_DISK = frozenset(
    {
        _SYSTEM32 + "\\cmd.exe",
        _SYSTEM32 + "\\hostname.exe",
        _SYSTEM32 + "\\whoami.exe",
        _SYSTEM32 + "\\windowspowershell\\v1.0\\powershell.exe",
    }
)


def executable_of(command_line: str) -> str:
    """The program a command line names: a leading quoted path, else its first word."""
    text = command_line.strip()
    if text.startswith('"'):
        return text[1:].split('"', 1)[0]
    return (text.split() or [""])[0]


def found_on_disk(executable: str) -> bool:
    """Would the listener start ``executable`` without cmd.exe? Only a full path that exists:
    the recorded exchange refused a bare ``powershell.exe`` (docs/simulator.md)."""
    name = executable.replace("/", "\\").lower()
    if not name:
        return False
    if not name.rsplit("\\", 1)[-1].count("."):
        name += ".exe"
    return name in _ON_DISK


def _duration(seconds: float) -> str:
    """xs:duration as Windows writes rsp:IdleTimeOut: PT7200.000S."""
    return f"PT{seconds:.3f}S"


class HostLike(Protocol):
    """What the server needs from a simulated host (simulator.host.SimHost)."""

    name: str
    record: HostRecord
    faults: FaultPlan

    def start_process(
        self, command: str, arguments: list[str], *, delegated: bool = False
    ) -> SimProcess: ...

    def kill_all_processes(self) -> None: ...


@dataclass
class Command:
    """One process in a shell plus output read from it but not yet delivered."""

    command_id: str
    process: SimProcess
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    done: bool = False
    exit_code: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def absorb(self, timeout: float) -> None:
        chunk = self.process.read_output(timeout)
        self.stdout += chunk.stdout
        self.stderr += chunk.stderr
        if chunk.done:
            self.done = True
            self.exit_code = chunk.exit_code if chunk.exit_code is not None else 0

    def has_news(self) -> bool:
        return bool(self.stdout or self.stderr or self.done)


@dataclass
class Shell:
    shell_id: str
    owner: str
    input_streams: str
    output_streams: str
    commands: dict[str, Command] = field(default_factory=dict)
    # the logon holds the user's credential (CredSSP delegated it), so its processes can reach
    # a file share; a network logon (NTLM, Kerberos without delegation) cannot
    delegated: bool = False
    operations: int = 0


class ShellService:
    """All shells of one host; thread-safe (requests arrive on many connections at once)."""

    def __init__(self, host: HostLike, *, operation_quota: int = DEFAULT_QUOTA, url: str = ""):
        self.host = host
        self.quota = operation_quota
        self.url = url
        self._shells: dict[str, Shell] = {}
        self._lock = threading.Lock()

    # -- bookkeeping -------------------------------------------------------------------------
    def shell_count(self) -> int:
        with self._lock:
            return len(self._shells)

    def restart(self) -> None:
        """The WinRM service restarted: every process dies and every shell is forgotten."""
        with self._lock:
            self._shells.clear()
        self.host.kill_all_processes()

    def stop(self) -> None:
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            for cmd in shell.commands.values():
                cmd.process.terminate()

    def _shell(self, req: Request) -> Shell:
        with self._lock:
            shell = self._shells.get(req.shell_id or "")
            if shell is None:
                raise soap.invalid_selectors(req.shell_id or "(none)")
            shell.operations += 1
            if shell.operations > self.quota:
                raise soap.quota_exceeded()
            return shell

    @staticmethod
    def _command(shell: Shell, command_id: str | None) -> Command:
        cmd = shell.commands.get(command_id or "")
        if cmd is None:
            raise soap.unknown_command()
        return cmd

    # -- dispatch ----------------------------------------------------------------------------
    def handle(self, req: Request, principal: str, *, delegated: bool = False) -> bytes:
        """Answer one request; raise soap.WsmanFault for a fault.

        The catalog holds only the cmd shell: any other resource URI (PowerShell Remoting's
        Microsoft.PowerShell, WMI/CIM classes, the shell enumeration resource) is refused as
        Windows refuses an endpoint it does not have, before any shell is touched.
        """
        if req.resource_uri.lower() != soap.RESOURCE_CMD.lower():
            raise soap.resource_not_found(req.resource_uri)
        if req.action == soap.ACTION_CREATE:
            return self.create(req, principal, delegated=delegated)
        if req.action == soap.ACTION_DELETE:
            return self.delete(req)
        if req.action == soap.ACTION_COMMAND:
            return self.command(req)
        if req.action == soap.ACTION_SEND:
            return self.send(req)
        if req.action == soap.ACTION_RECEIVE:
            return self.receive(req)
        if req.action == soap.ACTION_SIGNAL:
            return self.signal(req)
        raise soap.action_not_supported(req.action)

    def create(self, req: Request, principal: str, *, delegated: bool = False) -> bytes:
        spec = req.body.find("rsp:Shell", NS)
        ins = (spec.findtext("rsp:InputStreams", "stdin", NS) if spec is not None else "") or ""
        outs = spec.findtext("rsp:OutputStreams", "", NS) if spec is not None else ""
        idle = spec.findtext("rsp:IdleTimeOut", None, NS) if spec is not None else None
        folder = spec.findtext("rsp:WorkingDirectory", None, NS) if spec is not None else None
        shell = Shell(
            str(uuid.uuid4()).upper(), principal, ins, outs or "stdout stderr", delegated=delegated
        )
        shell.operations = 1
        with self._lock:
            self._shells[shell.shell_id] = shell
        sid = shell.shell_id
        # Children and their order as in test_winrs_standard.yml / test_winrs_extra_opts.yml:
        # WorkingDirectory and IdleTimeOut echo what was asked, run time and inactivity start at 0.
        extra = f"<rsp:WorkingDirectory>{escape(folder)}</rsp:WorkingDirectory>" if folder else ""
        extra += f"<rsp:IdleTimeOut>{_duration(soap.parse_duration(idle, DEFAULT_IDLE_TIMEOUT))}"
        body = (
            f"<x:ResourceCreated><a:Address>{escape(self.url)}</a:Address>"
            f"<a:ReferenceParameters><w:ResourceURI>{soap.RESOURCE_CMD}</w:ResourceURI>"
            f'<w:SelectorSet><w:Selector Name="ShellId">{sid}</w:Selector></w:SelectorSet>'
            f"</a:ReferenceParameters></x:ResourceCreated>"
            f'<rsp:Shell xmlns:rsp="{NS["rsp"]}"><rsp:ShellId>{sid}</rsp:ShellId>'
            f"<rsp:ResourceUri>{soap.RESOURCE_CMD}</rsp:ResourceUri>"
            f"<rsp:Owner>{escape(principal)}</rsp:Owner><rsp:ClientIP>127.0.0.1</rsp:ClientIP>"
            f"{extra}</rsp:IdleTimeOut>"
            f"<rsp:InputStreams>{escape(ins)}</rsp:InputStreams>"
            f"<rsp:OutputStreams>{escape(shell.output_streams)}</rsp:OutputStreams>"
            f"<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>"
            f"<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>"
        )
        return soap.response(req, body)

    def delete(self, req: Request) -> bytes:
        shell = self._shell(req)
        with self._lock:
            self._shells.pop(shell.shell_id, None)
        for cmd in shell.commands.values():
            cmd.process.terminate()
        return soap.response(req, "")

    def command(self, req: Request) -> bytes:
        shell = self._shell(req)
        line = req.body.find("rsp:CommandLine", NS)
        if line is None:
            raise soap.invalid_request("rsp:CommandLine is missing")
        command = (line.findtext("rsp:Command", "", NS) or "").strip()
        arguments = [a.text or "" for a in line.findall("rsp:Arguments", NS)]
        # Absent means TRUE (console), as pywinrm and winrs send it by default.
        console = req.options.get("WINRS_CONSOLEMODE_STDIN", "TRUE").upper() != "FALSE"
        skip_cmd = req.options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() == "TRUE"
        record = self.host.record
        with record.lock:
            record.winrs_commands.append(
                {
                    "executable": (command.split() or [""])[0],
                    "console_mode_stdin": console,
                    "skip_cmd_shell": skip_cmd,
                }
            )
        if not command:
            raise soap.invalid_parameter()
        if skip_cmd and not found_on_disk(executable_of(command)):
            raise soap.file_not_found()
        try:
            process = self.host.start_process(command, arguments, delegated=shell.delegated)
        except Exception as exc:
            # Type only, fixed fault text: the command line may carry secrets.
            log.error("%s: starting a process failed: %s", self.host.name, type(exc).__name__)
            raise soap.internal_error("The process could not be started.") from exc
        cmd = Command(str(uuid.uuid4()).upper(), process)
        with self._lock:
            shell.commands[cmd.command_id] = cmd
        body = (
            f"<rsp:CommandResponse><rsp:CommandId>{cmd.command_id}</rsp:CommandId>"
            f"</rsp:CommandResponse>"
        )
        return soap.response(req, body)

    def send(self, req: Request) -> bytes:
        shell = self._shell(req)
        streams = req.body.findall("rsp:Send/rsp:Stream", NS)
        for stream in streams:
            cmd = self._command(shell, stream.get("CommandId"))
            data = base64.b64decode(stream.text or "")
            end = (stream.get("End") or "false").lower() == "true"
            cmd.process.feed_stdin(data, end)
        return soap.response(req, "<rsp:SendResponse/>")

    def signal(self, req: Request) -> bytes:
        shell = self._shell(req)
        sig = req.body.find("rsp:Signal", NS)
        if sig is None:
            raise soap.invalid_request("rsp:Signal is missing")
        cmd = self._command(shell, sig.get("CommandId"))
        code = (sig.findtext("rsp:Code", "", NS) or "").strip()
        cmd.process.terminate()
        if code != soap.SIGNAL_CTRL_C:
            # After terminate the command id is gone, as on Windows.
            with self._lock:
                shell.commands.pop(cmd.command_id, None)
        return soap.response(req, "<rsp:SignalResponse/>")

    def receive(self, req: Request) -> bytes:
        shell = self._shell(req)
        desired = req.body.find("rsp:Receive/rsp:DesiredStream", NS)
        command_id = desired.get("CommandId") if desired is not None else None
        if not command_id:
            raise soap.invalid_parameter()  # the cmd plugin has no shell-level stream to read
        cmd = self._command(shell, command_id)
        deadline = time.monotonic() + req.operation_timeout
        with cmd.lock:
            while not cmd.has_news():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise soap.timed_out()
                cmd.absorb(remaining)
            if not cmd.done:
                cmd.absorb(0.0)  # coalesce whatever else is already there
            return soap.response(req, self._receive_body(cmd))

    @staticmethod
    def _receive_body(cmd: Command) -> str:
        out = bytes(cmd.stdout[:RECEIVE_CAP])
        del cmd.stdout[: len(out)]
        err = bytes(cmd.stderr[: RECEIVE_CAP - len(out)])
        del cmd.stderr[: len(err)]
        finished = cmd.done and not cmd.stdout and not cmd.stderr
        cid = quoteattr(cmd.command_id)
        parts = ["<rsp:ReceiveResponse>"]
        for name, data in (("stdout", out), ("stderr", err)):
            if data:
                text = base64.b64encode(data).decode("ascii")
                parts.append(f'<rsp:Stream Name="{name}" CommandId={cid}>{text}</rsp:Stream>')
        if finished:
            parts.append(f'<rsp:Stream Name="stdout" CommandId={cid} End="true"></rsp:Stream>')
            parts.append(f'<rsp:Stream Name="stderr" CommandId={cid} End="true"></rsp:Stream>')
            parts.append(
                f'<rsp:CommandState CommandId={cid} State="{soap.STATE_DONE}">'
                f"<rsp:ExitCode>{cmd.exit_code}</rsp:ExitCode></rsp:CommandState>"
            )
        else:
            # An explicit end tag, as test_winrs_operation_timeout.yml shows it.
            running = f'<rsp:CommandState CommandId={cid} State="{soap.STATE_RUNNING}">'
            parts.append(running + "</rsp:CommandState>")
        parts.append("</rsp:ReceiveResponse>")
        return "".join(parts)
