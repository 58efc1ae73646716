"""Processes: Get-Process and Start-Process, including the modelled installer run (its
duration, exit codes, the installer mutex, and what it leaves behind).
"""

from __future__ import annotations

import ntpath
import threading
import time
from typing import Any

from ...host import SimHost
from ..commands import Ctx, Param, cmdlet
from ..members import LiveObject
from ..paths import ShareDenied, resolve
from ..values import CIDict, as_list, to_number, to_str


class ProcessView(LiveObject):
    """System.Diagnostics.Process for Start-Process -PassThru and Get-Process."""

    type_name = "System.Diagnostics.Process"

    def __init__(self, host: SimHost, pid: int) -> None:
        self.host = host
        self.pid = pid

    def _info(self) -> dict[str, Any]:
        with self.host.lock:
            return dict(self.host.processes.get(self.pid, {}))

    def ps_props(self) -> CIDict:
        info = self._info()
        return CIDict(
            {
                "Id": self.pid,
                "ProcessName": info.get("name"),
                "Name": info.get("name"),
                "HasExited": info.get("exit_code") is not None,
                "ExitCode": info.get("exit_code"),
                "Path": info.get("path"),
                "StartTime": info.get("start"),
            }
        )

    def ps_method(self, name: str, args: list[Any]) -> Any:
        if name == "waitforexit":
            ev = self._info().get("done")
            if isinstance(ev, threading.Event):
                while not ev.wait(0.05):
                    pass
            return True
        if name == "refresh":
            return None
        raise AttributeError(name)

    def __str__(self) -> str:
        return f"System.Diagnostics.Process ({self._info().get('name')})"


@cmdlet("Get-Process", [Param("Name", position=0, aliases=("ProcessName",)), Param("Id")])
def get_process(ctx: Ctx) -> list[Any]:
    with ctx.host.lock:
        running = {pid: p for pid, p in ctx.host.processes.items() if p.get("exit_code") is None}
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


def _installer_thread(host: SimHost, pid: int, session: Any) -> None:
    """The installer's modelled run: duration, exit code, and what it leaves behind."""
    with host.lock:
        info = host.processes[pid]
    code = info["planned_exit"]
    if host.install_s > 0:
        time.sleep(host.install_s)
    if code in (0, 3010):
        host.apply_install()
    with host.lock:
        info["exit_code"] = code
        host.installer_running = False
    host.record.event("installer_run", host=host.name, exit_code=code, arguments=info.get("args"))
    info["done"].set()


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
    host.log_command_line(f'"{path}" ' + " ".join(args) if args else f'"{path}"')
    pid = host.next_pid()
    done = threading.Event()
    name = ntpath.splitext(ntpath.basename(path))[0]
    info: dict[str, Any] = {
        "name": name,
        "path": path,
        "args": args,
        "exit_code": None,
        "done": done,
        "start": time.time(),
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
            with host.lock:
                info["exit_code"] = 1618
            host.record.event(
                "installer_run", host=host.name, exit_code=1618, arguments=args, reason="mutex"
            )
            done.set()
        else:
            if ctx.switch("Wait"):
                ctx.session.runner.add_modelled(host.install_s)
            threading.Thread(
                target=_installer_thread, args=(host, pid, ctx.session), daemon=True
            ).start()
    else:
        with host.lock:
            info["exit_code"] = 0
            host.processes[pid] = info
        done.set()
    if ctx.switch("Wait"):
        while not done.wait(0.02):
            ctx.session.check_cancel()
    return [ProcessView(host, pid)] if ctx.switch("PassThru") else []
