"""Reading a host's logs: Get-ChildItem (one folder), Get-Content (-Tail/-TotalCount) and
as strict as Windows about what is missing (Get-WinEvent is in eventlog.py).

Modelled on the cmdlets' documentation (Microsoft Learn, PowerShell reference:
https://learn.microsoft.com/powershell/module/microsoft.powershell.management/get-childitem,
.../get-content, .../microsoft.powershell.diagnostics/get-winevent):
- a missing path is the non-terminating ``PathNotFound`` (ItemNotFoundException);
- Get-Content emits one string per line (CR LF or LF), without the line ends; ``-Tail N`` the
  last N lines, ``-TotalCount N`` the first N; a UTF-8 byte order mark is not part of the text;
- Get-WinEvent returns the newest events first (``-Oldest`` reverses); a log that does not
  exist is ``NoMatchingLogsFound``, and a log with no events the non-terminating
  ``NoMatchingEventsFound`` ("No events were found that match the specified selection
  criteria."), which ``-ErrorAction SilentlyContinue`` silences and ``Stop`` makes catchable.
"""

from __future__ import annotations

import ntpath
from typing import Any

from ..commands import Ctx, Param, cmdlet
from ..operators import wildcard_regex
from ..values import as_list, to_number, to_str
from .filesystem import FileView
from .providers import path_not_found, reach

LEVEL_NAMES = {1: "Critical", 2: "Error", 3: "Warning", 4: "Information", 5: "Verbose"}


@cmdlet(
    "Get-ChildItem",
    [
        Param("Path", position=0, aliases=("LiteralPath",)),
        Param("Filter", position=1),
        Param("File", switch=True),
        Param("Directory", switch=True),
        Param("Force", switch=True),
    ],
)
def get_childitem(ctx: Ctx) -> list[Any]:
    out: list[Any] = []
    for p in as_list(ctx.get("Path", ".")):
        path = reach(ctx, to_str(p), "GetChildItemCommand")
        folder = ctx.host.file(path)
        if folder is None:
            raise path_not_found(ctx, to_str(p), "GetChildItemCommand")
        if not folder.is_dir:
            out.append(FileView(folder))
            continue
        rx = wildcard_regex(to_str(ctx.get("Filter"))) if ctx.has("Filter") else None
        parent = folder.path.rstrip("\\").lower()
        with ctx.host.lock:
            entries = list(ctx.host.files.values())
        for entry in sorted(entries, key=lambda e: e.path.lower()):
            if ntpath.dirname(entry.path.rstrip("\\")).lower() != parent:
                continue
            if (ctx.switch("File") and entry.is_dir) or (
                ctx.switch("Directory") and not entry.is_dir
            ):
                continue
            if rx is not None and not rx.fullmatch(ntpath.basename(entry.path)):
                continue
            out.append(FileView(entry))
    return out


def _lines(content: bytes) -> list[str]:
    text = content.decode("utf-8-sig", errors="replace")
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


@cmdlet(
    "Get-Content",
    [
        Param("Path", position=0, aliases=("LiteralPath",)),
        Param("Tail", aliases=("Last",)),
        Param("TotalCount", aliases=("First", "Head")),
        Param("Raw", switch=True),
        Param("Encoding"),
    ],
)
def get_content(ctx: Ctx) -> list[Any]:
    out: list[Any] = []
    for p in as_list(ctx.get("Path")):
        entry = ctx.host.file(reach(ctx, to_str(p), "GetContentCommand"))
        if entry is None:
            raise path_not_found(ctx, to_str(p), "GetContentCommand")
        if entry.is_dir:
            raise ctx.non_terminating(
                f"Unable to get content because it is a directory: '{entry.path}'. Please use "
                "'Get-ChildItem' instead.",
                "GetContentReaderUnauthorizedAccessError,Microsoft.PowerShell.Commands."
                "GetContentCommand",
                "PermissionDenied",
                "System.UnauthorizedAccessException",
                entry.path,
            )
        if ctx.has("TotalCount") and ctx.has("Tail"):
            # GetContentCommand refuses the pair (PowerShell's source, TailAndHeadCannotCoexist)
            raise ctx.non_terminating(
                "The parameters TotalCount and Tail cannot be used together. Please specify "
                "only one parameter.",
                "TailAndHeadCannotCoexist,Microsoft.PowerShell.Commands.GetContentCommand",
                "InvalidOperation",
                "System.InvalidOperationException",
            )
        lines = _lines(entry.content)
        if ctx.has("TotalCount"):
            lines = lines[: max(0, int(to_number(ctx.get("TotalCount"))))]
        if ctx.has("Tail"):
            n = max(0, int(to_number(ctx.get("Tail"))))
            lines = lines[-n:] if n else []
        if ctx.switch("Raw"):
            out.append(entry.content.decode("utf-8-sig", errors="replace"))
        else:
            out.extend(lines)
    return out
