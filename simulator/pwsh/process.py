"""Simulated processes: powershell.exe (one Session on its own thread) and cmd.exe builtins.

Command lines are split the way Windows does, and powershell.exe's own flags are matched the
way powershell.exe 5.1 matches them (case-insensitive, abbreviated).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import threading
import time
from typing import TYPE_CHECKING, Any

from ..contract import CmdletCall, OutputChunk, ProcessFactory, SimProcess
from . import cmdlets  # noqa: F401  (registers every cmdlet)
from .clixml import CLOSE, HEADER, OPEN, lines_as_records, progress_record
from .commands import format_error
from .evaluator import Session
from .format import format_objects
from .parser import is_incomplete, parse
from .runtime import ExitEx, Terminated
from .syntax import named
from .values import ErrorRecord, PSRuntimeError

if TYPE_CHECKING:
    from ..host import SimHost

_session_ids = itertools.count(1)


def split_command_line(line: str) -> list[str]:
    """CommandLineToArgvW's rules: quotes group, backslashes escape only before a quote."""
    args: list[str] = []
    cur: list[str] = []
    in_quotes = False
    have = False
    i = 0
    n = len(line)
    while i < n:
        c = line[i]
        if c == "\\":
            j = i
            while j < n and line[j] == "\\":
                j += 1
            count = j - i
            if j < n and line[j] == '"':
                cur.append("\\" * (count // 2))
                if count % 2:
                    cur.append('"')
                    i = j + 1
                else:
                    i = j
                have = True
                continue
            cur.append("\\" * count)
            i = j
            have = True
            continue
        if c == '"':
            if in_quotes and i + 1 < n and line[i + 1] == '"':
                cur.append('"')
                i += 2
                continue
            in_quotes = not in_quotes
            have = True
            i += 1
            continue
        if c in " \t" and not in_quotes:
            if have:
                args.append("".join(cur))
                cur = []
                have = False
            i += 1
            continue
        cur.append(c)
        have = True
        i += 1
    if have:
        args.append("".join(cur))
    return args


# (name, shortest accepted prefix, takes value)
PS_FLAGS = [
    ("PSConsoleFile", "psc", True),
    ("Version", "v", True),
    ("NoLogo", "nol", False),
    ("NoExit", "noe", False),
    ("Sta", "s", False),
    ("Mta", "mta", False),
    ("NoProfile", "nop", False),
    ("NonInteractive", "noni", False),
    ("InputFormat", "inp", True),
    ("OutputFormat", "o", True),
    ("WindowStyle", "w", True),
    ("EncodedCommand", "e", True),
    ("ConfigurationName", "config", True),
    ("File", "f", True),
    ("ExecutionPolicy", "ex", True),
    ("Command", "c", True),
]
EXTRA_ALIASES = {"ec": "EncodedCommand", "ep": "ExecutionPolicy", "enc": "EncodedCommand"}


def match_ps_flag(token: str) -> str | None:
    low = token[1:].lower()
    if low in EXTRA_ALIASES:
        return EXTRA_ALIASES[low]
    for name, short, _ in PS_FLAGS:
        if name.lower().startswith(low) and low.startswith(short):
            return name
    return None


class PowerShellArgs:
    """The parsed powershell.exe command line."""

    def __init__(self, tokens: list[str]) -> None:
        self.flags: dict[str, str | bool] = {}
        self.mode = "stdin"
        self.script = ""
        self.error: str | None = None
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok[:1] not in ("-", "/") or tok in ("-", "/"):
                self.mode = "command"
                self.script = " ".join(tokens[i:])
                return
            name = match_ps_flag(tok)
            if name is None:
                self.mode = "command"
                self.script = " ".join(tokens[i:])
                return
            takes = next(t for n, _, t in PS_FLAGS if n == name)
            if name == "Command":
                rest = tokens[i + 1 :]
                if rest == ["-"]:
                    self.mode = "stdin"
                else:
                    self.mode = "command"
                    self.script = " ".join(rest)
                return
            if takes:
                if i + 1 >= len(tokens):
                    self.error = f"Missing argument for parameter {name}."
                    return
                value = tokens[i + 1]
                self.flags[name] = value
                i += 2
                if name == "EncodedCommand":
                    self.mode = "encoded"
                    try:
                        self.script = base64.b64decode(value, validate=False).decode("utf-16-le")
                    except (binascii.Error, UnicodeDecodeError):
                        self.error = "Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded."  # noqa: E501
                    return
                if name == "File":
                    if value == "-":
                        self.mode = "stdin"
                    else:
                        self.mode = "file"
                        self.script = value
                    return
                continue
            self.flags[name] = True
            i += 1


class _ProcessBase:
    """Output buffers, stdin, exit state shared by the process kinds."""

    def __init__(self, host: SimHost) -> None:
        self.host = host
        self.cond = threading.Condition()
        self.cancel = threading.Event()
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._stdin = bytearray()
        self._stdin_closed = False
        self.exit_code: int | None = None
        self.finished = False
        self._stderr_open = False
        self.pid = host.next_pid()

    # ---- SimProcess ---------------------------------------------------------------------
    def feed_stdin(self, data: bytes, end: bool) -> None:
        with self.cond:
            self._stdin.extend(data)
            if end:
                self._stdin_closed = True
            self.cond.notify_all()

    def read_output(self, timeout: float) -> OutputChunk:
        deadline = time.monotonic() + max(0.0, timeout)
        with self.cond:
            while not self._stdout and not self._stderr and not self.finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            chunk = OutputChunk(
                bytes(self._stdout),
                bytes(self._stderr),
                self.finished,
                self.exit_code if self.finished else None,
            )
            self._stdout.clear()
            self._stderr.clear()
            return chunk

    def terminate(self) -> None:
        self.cancel.set()
        with self.cond:
            if not self.finished:
                self._close_stderr()
                self.exit_code = -1
                self.finished = True
            self.cond.notify_all()
        self.host.release_handles(self.pid)

    # ---- used by the session ------------------------------------------------------------
    def write_stdout(self, text: str) -> None:
        with self.cond:
            if self.finished:
                return
            self._stdout.extend(text.encode("utf-8"))
            self.cond.notify_all()

    def write_stderr_record(self, kind: str, text: str) -> None:
        with self.cond:
            if self.finished:
                return
            if not self._stderr_open:
                self._stderr.extend((HEADER + OPEN).encode("utf-8"))
                self._stderr_open = True
            self._stderr.extend(lines_as_records(kind, text).encode("utf-8"))
            self.cond.notify_all()

    def write_stderr_object(self, xml: str) -> None:
        """One serialised record (progress, ...) inside the stderr ``<Objs>`` document."""
        with self.cond:
            if self.finished:
                return
            if not self._stderr_open:
                self._stderr.extend((HEADER + OPEN).encode("utf-8"))
                self._stderr_open = True
            self._stderr.extend(xml.encode("utf-8"))
            self.cond.notify_all()

    def write_stderr_raw(self, text: str) -> None:
        with self.cond:
            self._stderr.extend(text.encode("utf-8"))
            self.cond.notify_all()

    def _close_stderr(self) -> None:
        if self._stderr_open:
            self._stderr.extend(CLOSE.encode("utf-8"))
            self._stderr_open = False

    def read_stdin_line(self) -> str | None:
        """One line of stdin as data; None at end of stdin. Blocks until a line arrives."""
        with self.cond:
            while True:
                if self.cancel.is_set():
                    raise Terminated()
                idx = self._stdin.find(b"\n")
                if idx >= 0:
                    raw = bytes(self._stdin[: idx + 1])
                    del self._stdin[: idx + 1]
                    return raw.decode("utf-8", "replace").rstrip("\r\n")
                if self._stdin_closed:
                    if self._stdin:
                        raw = bytes(self._stdin)
                        self._stdin.clear()
                        return raw.decode("utf-8", "replace").rstrip("\r\n")
                    return None
                self.cond.wait(0.5)

    def finish(self, code: int) -> None:
        with self.cond:
            if self.finished:
                return
            self._close_stderr()
            self.exit_code = code
            self.finished = True
            self.cond.notify_all()
        self.host.release_handles(self.pid)


class PwshProcess(_ProcessBase):
    """powershell.exe: a runspace driven by -EncodedCommand, -Command or stdin."""

    def __init__(self, host: SimHost, args: PowerShellArgs, *, delegated: bool = False) -> None:
        super().__init__(host)
        self.args = args
        self._progress_refs = 0
        self.session_id = f"{host.name}:{next(_session_ids)}"
        self.session = Session(
            host, self, self.session_id, interactive=not args.flags.get("NonInteractive")
        )
        self.session.delegated = delegated
        self.thread = threading.Thread(
            target=self._main, name=f"pwsh-{self.session_id}", daemon=True
        )
        self.thread.start()

    @property
    def serialises_streams(self) -> bool:
        """-EncodedCommand with redirected output (as over WinRM): ConsoleHost writes progress,
        verbose, warning and error records to stderr as CLIXML instead of drawing them."""
        return self.args.mode == "encoded"

    def write_progress(self, **record: Any) -> None:
        """A progress record on stderr when this process serialises its streams."""
        if not self.serialises_streams:
            return
        with self.cond:
            ref_id = self._progress_refs
            self._progress_refs += 1
        self.write_stderr_object(progress_record(ref_id, **record))

    def _main(self) -> None:
        code = 0
        try:
            self._startup()
            code = self._run()
        except Terminated:
            code = -1
        except Exception as e:  # an engine bug must not hang the caller
            self.write_stderr_record(
                "Error", f"Simulator internal error: {type(e).__name__}: {e}\r\n"
            )
            code = 1
        finally:
            self.host.tenant.close_windows(self.host.name, self.session_id)
            self.finish(code)

    def _startup(self) -> None:
        cost = self.host.startup_cost_s
        call = CmdletCall(
            self.host.name,
            self.session_id,
            "<powershell.exe startup>",
            [],
            time.time(),
            modelled_s=cost,
        )
        self.host.add_cmdlet_call(call)
        if cost > 0 and self.cancel.wait(cost):
            raise Terminated()
        call.finished = time.time()

    def _run(self) -> int:
        a = self.args
        if a.error:
            self.write_stderr_record("Error", a.error + "\r\n")
            return 1 if a.mode != "encoded" else -196608
        if a.mode in ("encoded", "command"):
            self.host.log_script_block(a.script)
            return self.run_script(a.script, whole=True)
        if a.mode == "file":
            self.write_stderr_record(
                "Error",
                f"The argument '{a.script}' to the -File parameter does not exist. Provide the path "  # noqa: E501
                "to an existing '.ps1' file as an argument to the -File parameter.\r\n",
            )
            return -196608
        return self._run_stdin()

    def _run_stdin(self) -> int:
        buf: list[str] = []
        code = 0
        while True:
            line = self.read_stdin_line()
            if line is None:
                break
            buf.append(line)
            text = "\n".join(buf)
            if not text.strip():
                buf = []
                continue
            if is_incomplete(text):
                continue
            buf = []
            self.host.log_script_block(text)
            code = self.run_script(text, whole=False)
            if self.session.exit_requested is not None:
                return self.session.exit_requested
        if buf and "\n".join(buf).strip():
            text = "\n".join(buf)
            self.host.log_script_block(text)
            code = self.run_script(text, whole=False)
        return code

    def run_script(self, text: str, whole: bool) -> int:
        """Run one script block at top level; the exit code powershell.exe would give."""
        session = self.session
        try:
            root = parse(text).root_node
            session.raise_parse_error(text, root)
        except PSRuntimeError as e:
            self.report(e.record, text)
            session.last_ok = False
            return 1
        for stmt in _top_statements(root):
            try:
                out = session.exec_statement(stmt)
                if out:
                    self.write_stdout(format_objects(out))
            except ExitEx as ex:
                session.exit_requested = ex.code
                return ex.code
            except PSRuntimeError as e:
                self.report(e.record, text)
                session.last_ok = False
                if whole:
                    return 1
                return 1
        return 0 if session.last_ok else 1

    def report(self, record: ErrorRecord, text: str) -> None:
        self.write_stderr_record("Error", format_error(record))


def _top_statements(root: Any) -> list[Any]:
    out = []
    for child in named(root):
        if child.type == "statement_list":
            out.extend(named(child))
        else:
            out.append(child)
    return out


class CmdProcess(_ProcessBase):
    """cmd.exe and its builtins: hostname, whoami, echo; anything else is not recognised."""

    def __init__(self, host: SimHost, tokens: list[str]) -> None:
        super().__init__(host)
        self._run(tokens)

    def _run(self, tokens: list[str]) -> None:
        if tokens and _base(tokens[0]) == "cmd":
            rest = tokens[1:]
            if rest and rest[0].lower() in ("/c", "/k"):
                rest = rest[1:]
            tokens = rest
        if not tokens:
            self.finish(0)
            return
        name = _base(tokens[0])
        if name == "hostname":
            self.write_stdout(self.host.name + "\r\n")
            self.finish(0)
        elif name == "whoami":
            self.write_stdout(self.host.login_user.lower() + "\r\n")
            self.finish(0)
        elif name == "echo":
            self.write_stdout(" ".join(tokens[1:]) + "\r\n")
            self.finish(0)
        else:
            self.write_stderr_raw(
                f"'{tokens[0]}' is not recognized as an internal or external command,\r\n"
                "operable program or batch file.\r\n"
            )
            self.finish(1)


def _base(token: str) -> str:
    b = token.replace("/", "\\").rsplit("\\", 1)[-1].lower()
    return b[:-4] if b.endswith(".exe") else b


def start_process(
    host: SimHost, command: str, arguments: list[str], *, delegated: bool = False
) -> _ProcessBase:
    """Start powershell.exe or a cmd.exe builtin on ``host`` (what ``process_factory`` binds)."""
    # WinRM hands Windows one command line (pywinrm even joins all Arguments into one element);
    # the process re-splits it with CommandLineToArgvW, so do the same.
    line = " ".join([command, *arguments])
    tokens = split_command_line(line)
    host.log_command_line(line)
    if tokens and _base(tokens[0]) in ("powershell", "pwsh"):
        return PwshProcess(host, PowerShellArgs(tokens[1:]), delegated=delegated)
    return CmdProcess(host, tokens)


def process_factory(host: SimHost) -> ProcessFactory:
    """The ProcessFactory a SimHost is given: each process starts on that host."""

    def start(command: str, arguments: list[str], *, delegated: bool = False) -> SimProcess:
        return start_process(host, command, arguments, delegated=delegated)

    return start
