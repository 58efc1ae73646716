"""The file-system provider: FileInfo / DirectoryInfo views, Copy-Item and Remove-Item, and the
C: drive's free space (Get-PSDrive).
"""

from __future__ import annotations

import ntpath
from typing import Any

from ...host import FileEntry
from ..commands import Ctx, Param, cmdlet
from ..members import LiveObject
from ..values import CIDict, PSObject, as_list, modelled_date, to_str
from .providers import path_not_found, reach


class FileView(LiveObject):
    """System.IO.FileInfo / DirectoryInfo."""

    def __init__(self, entry: FileEntry) -> None:
        self.entry = entry
        self.type_name = "System.IO.DirectoryInfo" if entry.is_dir else "System.IO.FileInfo"

    def ps_props(self) -> CIDict:
        e = self.entry
        version_info = PSObject(
            {
                "ProductVersion": e.version,
                "FileVersion": e.version,
                "ProductName": "Microsoft Azure AD Connect Provisioning Agent"
                if e.version
                else None,
                "CompanyName": "Microsoft Corporation" if e.signer else None,
                "FileName": e.path,
            },
            type_name="System.Diagnostics.FileVersionInfo",
        )
        return CIDict(
            {
                "Name": ntpath.basename(e.path.rstrip("\\")),
                "FullName": e.path,
                "Length": None if e.is_dir else len(e.content),
                "Exists": True,
                "PSIsContainer": e.is_dir,
                "Extension": ntpath.splitext(e.path)[1],
                "DirectoryName": ntpath.dirname(e.path),
                "VersionInfo": version_info,
                "LastWriteTime": modelled_date(e.written_at),
                "LastWriteTimeUtc": modelled_date(e.written_at),
            }
        )

    def __str__(self) -> str:
        return self.entry.path


@cmdlet(
    "Copy-Item",
    [
        Param("Path", position=0, aliases=("LiteralPath",)),
        Param("Destination", position=1),
        Param("Force", switch=True),
        Param("Recurse", switch=True),
        Param("PassThru", switch=True),
    ],
)
def copy_item(ctx: Ctx) -> list[Any]:
    dest = reach(ctx, to_str(ctx.get("Destination")), "CopyItemCommand")
    out = []
    for p in as_list(ctx.get("Path")):
        src = ctx.host.file(reach(ctx, to_str(p), "CopyItemCommand"))
        if src is None:
            raise path_not_found(ctx, to_str(p), "CopyItemCommand")
        d = ctx.host.file(dest)
        target = (
            dest.rstrip("\\") + "\\" + ntpath.basename(src.path)
            if (d is not None and d.is_dir) or dest.endswith("\\")
            else dest
        )
        parent = ntpath.dirname(target)
        if parent and ctx.host.file(parent) is None:
            raise ctx.non_terminating(
                f"Could not find a part of the path '{target}'.",
                "System.IO.DirectoryNotFoundException,Microsoft.PowerShell.Commands.CopyItemCommand",
                "WriteError",
                "System.IO.DirectoryNotFoundException",
                target,
            )
        existing = ctx.host.file(target)
        if existing is not None and existing.is_dir:
            raise ctx.non_terminating(
                f"Cannot overwrite the item {target} with itself.",
                "CopyError",
                "WriteError",
                "System.IO.IOException",
                target,
            )
        entry = FileEntry(target, src.content, src.version, src.signer, src.is_dir, src.chain)
        ctx.host.put_file(entry)
        if ctx.switch("PassThru"):
            out.append(FileView(entry))
    return out


@cmdlet(
    "Remove-Item",
    [
        Param("Path", position=0, aliases=("LiteralPath",)),
        Param("Force", switch=True),
        Param("Recurse", switch=True),
    ],
    pipeline=True,
)
def remove_item(ctx: Ctx) -> list[Any]:
    for p in as_list(ctx.get("Path")) if ctx.has("Path") else list(ctx.input or []):
        path = to_str(p) if not isinstance(p, FileView) else p.entry.path
        if not ctx.host.remove_file(reach(ctx, path, "RemoveItemCommand")):
            raise path_not_found(ctx, path, "RemoveItemCommand")
    return []


@cmdlet("Get-PSDrive", [Param("Name", position=0), Param("PSProvider")])
def get_psdrive(ctx: Ctx) -> list[Any]:
    free = ctx.host.free_disk_bytes
    return [
        PSObject(
            {
                "Name": "C",
                "Used": 40 * 1024**3,
                "Free": free,
                "Provider": "FileSystem",
                "Root": "C:\\",
            },
            type_name="System.Management.Automation.PSDriveInfo",
        )
    ]
