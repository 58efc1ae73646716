"""Processes: Get-Process and Start-Process, including the modelled installer run (its
duration, exit codes, the installer mutex, and what it leaves behind).
"""

from __future__ import annotations

import hashlib
import ntpath
import threading
import time
from typing import Any

from ...host import FileEntry, SimHost
from ..commands import Ctx, Param, cmdlet
from ..members import LiveObject
from ..paths import ShareDenied, resolve
from ..values import CIDict, as_list, modelled_date, to_number, to_str


class ProcessView(LiveObject):
    """System.Diagnostics.Process for Start-Process -PassThru and Get-Process.

    ``ExitCode`` is $null while running, when the process reported none, and (Windows
    PowerShell 5.1, PowerShell issue 5421) when it was started with -NoNewWindow or a
    -RedirectStandard* parameter and without -Wait unless ``.Handle`` was read first: .NET's
    ExitCode getter needs the cached process handle.
    """

    type_name = "System.Diagnostics.Process"

    def __init__(self, host: SimHost, pid: int) -> None:
        self.host = host
        self.pid = pid

    def _info(self) -> dict[str, Any]:
        with self.host.lock:
            return dict(self.host.processes.get(self.pid, {}))

    def ps_touch(self, name: str) -> None:
        if name == "handle":
            with self.host.lock:
                info = self.host.processes.get(self.pid)
                if info is not None:
                    info["handle_cached"] = True

    def ps_props(self) -> CIDict:
        info = self._info()
        exited = bool(info.get("exited"))
        code = info.get("exit_code") if exited else None
        if info.get("needs_handle") and not info.get("handle_cached"):
            code = None
        return CIDict(
            {
                "Id": self.pid,
                "ProcessName": info.get("name"),
                "Name": info.get("name"),
                "HasExited": exited,
                "ExitCode": code,
                "Handle": self.pid * 4 + 0x200,
                "Path": info.get("path"),
                "StartTime": modelled_date(info.get("start")),
            }
        )

    def ps_method(self, name: str, args: list[Any]) -> Any:
        if name == "waitforexit":
            ev = self._info().get("done")
            if isinstance(ev, threading.Event):
                if args:  # WaitForExit(milliseconds) -> whether it exited in time
                    return ev.wait(max(0.0, to_number(args[0]) / 1000.0))
                while not ev.wait(0.05):
                    pass
            return None  # void WaitForExit(); only WaitForExit(ms) returns a bool
        if name == "refresh":
            return None
        raise AttributeError(name)

    def __str__(self) -> str:
        return f"System.Diagnostics.Process ({self._info().get('name')})"


@cmdlet("Get-Process", [Param("Name", position=0, aliases=("ProcessName",)), Param("Id")])
def get_process(ctx: Ctx) -> list[Any]:
    with ctx.host.lock:
        running = {pid: p for pid, p in ctx.host.processes.items() if not p.get("exited")}
    if ctx.has("Id"):
        ids = [int(to_number(i)) for i in as_list(ctx.get("Id"))]
        for i in ids:
            if i not in running:
                raise ctx.non_terminating(
                    f"Cannot find a process with the process identifier {i}.",
                    "NoProcessFoundForGivenId,Microsoft.PowerShell.Commands.GetProcessCommand",
                    "ObjectNotFound",
                    "Microsoft.PowerShell.Commands.ProcessCommandException",
                    i,
                )
        return [ProcessView(ctx.host, i) for i in ids]
    if not ctx.has("Name"):
        return [ProcessView(ctx.host, pid) for pid in sorted(running)]
    out: list[Any] = []
    for n in as_list(ctx.get("Name")):
        name = to_str(n).lower()
        hits = [pid for pid, p in running.items() if to_str(p.get("name")).lower() == name]
        if not hits:
            raise ctx.non_terminating(
                f'Cannot find a process with the name "{to_str(n)}". Verify the process name and call the cmdlet again.',  # noqa: E501
                "NoProcessFoundForGivenName,Microsoft.PowerShell.Commands.GetProcessCommand",
                "ObjectNotFound",
                "Microsoft.PowerShell.Commands.ProcessCommandException",
                to_str(n),
            )
        out.extend(ProcessView(ctx.host, pid) for pid in hits)
    return out


INSTALLER_LOG_SWITCHES = ("/log", "-log", "/l", "-l")


def _installer_log(args: list[str]) -> str | None:
    """The path after Burn's ``/log`` switch (WiX standard bootstrapper: "/log log.txt - logs
    to a specific file. By default a log file is created in %TEMP%")."""
    for i, arg in enumerate(args[:-1]):
        if arg.lower() in INSTALLER_LOG_SWITCHES:
            return args[i + 1]
    return None


def _write_installer_log(host: SimHost, path: str, code: int | None, args: list[str]) -> None:
    parent = ntpath.dirname(path)
    if parent and host.file(parent) is None:
        host.put_file(FileEntry(parent, is_dir=True))
    lines = [
        f"[{time.strftime('%H:%M:%S')}] i001: Burn v3.14, Windows v10.0, path: {path}",
        f"i000: Command line: {' '.join(args)}",
        f"i399: Apply complete, result: 0x{(code or 0) & 0xFFFFFFFF:08x}, restart: None",
        f"i007: Exit code: 0x{(code or 0) & 0xFFFFFFFF:x}, restarting: No",
    ]
    host.put_file(FileEntry(path, ("\r\n".join(lines) + "\r\n").encode("utf-8")))


def _exit(host: SimHost, info: dict[str, Any], code: int | None) -> None:
    with host.lock:
        info["exit_code"] = code
        info["exited"] = True
    info["done"].set()


def _leftover_child(host: SimHost, parent: dict[str, Any]) -> threading.Event | None:
    """A child the installer leaves running: it lives ``seconds`` after the installer exits."""
    spec = host.installer_leftover_child
    if not spec:
        return None
    pid = host.next_pid()
    done = threading.Event()
    child: dict[str, Any] = {
        "name": spec["name"],
        "path": "C:\\Windows\\TEMP\\" + spec["name"] + ".exe",
        "args": [],
        "exit_code": None,
        "done": done,
        "start": time.time(),
        "parent": parent.get("pid"),
    }
    with host.lock:
        host.processes[pid] = child
    timer = threading.Timer(float(spec["seconds"]), _exit, args=(host, child, 0))
    timer.daemon = True
    timer.start()
    return done


def _installer_thread(host: SimHost, pid: int, session: Any) -> None:
    """The installer's modelled run: duration, exit code, log, and what it leaves behind."""
    with host.lock:
        info = host.processes[pid]
    code = info["planned_exit"]
    if host.install_s > 0:
        time.sleep(host.install_s)
    if code in (0, 3010):
        host.apply_install()
    log = _installer_log(info.get("args") or [])
    if log:
        _write_installer_log(host, log, code, info.get("args") or [])
    child = _leftover_child(host, info)
    if child is not None:
        info["tree"].append(child)
    with host.lock:
        host.installer_running = False
    host.record.event(
        "installer_run",
        host=host.name,
        exit_code=code,
        arguments=info.get("args"),
        sha256=info.get("sha256"),
    )
    _exit(host, info, code)


@cmdlet(
    "Start-Process",
    [
        Param("FilePath", position=0, aliases=("PSPath", "Path")),
        Param("ArgumentList", position=1, aliases=("Args",)),
        Param("Wait", switch=True),
        Param("PassThru", switch=True),
        Param("NoNewWindow", switch=True),
        Param("WindowStyle"),
        Param("Verb"),
        Param("WorkingDirectory"),
        Param("RedirectStandardOutput"),
        Param("RedirectStandardError"),
        Param("Credential"),
        Param("LoadUserProfile", switch=True),
    ],
)
def start_process(ctx: Ctx) -> list[Any]:
    host = ctx.host
    path = to_str(ctx.get("FilePath"))
    args = [to_str(a) for a in as_list(ctx.get("ArgumentList"))]
    try:
        entry = host.file(resolve(ctx.session, path))
    except ShareDenied:  # the second hop (simulator.pwsh.paths)
        raise ctx.error(
            "This command cannot be run due to the error: Access is denied.",
            "InvalidOperationException,Microsoft.PowerShell.Commands.StartProcessCommand",
            "InvalidOperation",
            "System.InvalidOperationException",
        ) from None
    base = ntpath.basename(path).lower()
    known = {"powershell.exe", "cmd.exe", "msiexec.exe", "hostname.exe", "whoami.exe"}
    if entry is None and base not in known:
        raise ctx.error(
            "This command cannot be run due to the error: The system cannot find the file specified.",  # noqa: E501
            "InvalidOperationException,Microsoft.PowerShell.Commands.StartProcessCommand",
            "InvalidOperation",
            "System.InvalidOperationException",
        )
    if entry is not None and not entry.is_dir and host.read_denied(entry.path):
        raise ctx.error(  # CreateProcess reads the file
            "This command cannot be run due to the error: The process cannot access the "
            "file because it is being used by another process.",
            "InvalidOperationException,Microsoft.PowerShell.Commands.StartProcessCommand",
            "InvalidOperation",
            "System.InvalidOperationException",
        )
    host.log_command_line(f'"{path}" ' + " ".join(args) if args else f'"{path}"')
    pid = host.next_pid()
    done = threading.Event()
    name = ntpath.splitext(ntpath.basename(path))[0]
    wait = ctx.switch("Wait")
    info: dict[str, Any] = {
        "pid": pid,
        "name": name,
        "path": path,
        "args": args,
        "exit_code": None,
        "done": done,
        "tree": [],  # events of descendants that -Wait also waits for
        "start": time.time(),
        # the bytes it was started from (what the host's process record would let one hash)
        "sha256": hashlib.sha256(entry.content).hexdigest().upper() if entry else None,
        "needs_handle": not wait
        and (
            ctx.switch("NoNewWindow")
            or ctx.has("RedirectStandardOutput")
            or ctx.has("RedirectStandardError")
        ),
    }
    if base == "aadconnectprovisioningagentsetup.exe":
        with host.lock:
            busy = host.installer_running
            if not busy:
                host.installer_running = True
                info["planned_exit"] = (
                    host.installer_exit_codes.pop(0) if host.installer_exit_codes else 0
                )
            host.processes[pid] = info
        if busy:
            host.record.event(
                "installer_run", host=host.name, exit_code=1618, arguments=args, reason="mutex"
            )
            _exit(host, info, 1618)
        else:
            if wait:
                ctx.session.runner.add_modelled(host.install_s)
            threading.Thread(
                target=_installer_thread, args=(host, pid, ctx.session), daemon=True
            ).start()
    else:
        with host.lock:
            host.processes[pid] = info
        _exit(host, info, 0)
    if wait:
        # -Wait waits for the process and every descendant: PowerShell's StartProcessCommand
        # (src/Microsoft.PowerShell.Commands.Management/commands/management/Process.cs) puts the
        # process in a job object (JobProcessCollection) and waits for the job to empty, so a
        # child left running keeps the step waiting; in the model for the child's ``seconds``.
        while not done.wait(0.02):
            ctx.session.check_cancel()
        for child in list(info["tree"]):
            spec = host.installer_leftover_child or {}
            ctx.session.runner.add_modelled(float(spec.get("seconds", 0)))
            while not child.wait(0.02):
                ctx.session.check_cancel()
    return [ProcessView(host, pid)] if ctx.switch("PassThru") else []
