"""The item cmdlets that serve both providers (Test-Path, Get-Item, New-Item): each looks at the
path and works on the registry or on the file system.
"""

from __future__ import annotations

from typing import Any

from ...host import FileEntry, is_registry_path, reg_key
from ..commands import Ctx, Param, cmdlet
from ..paths import ShareDenied, resolve
from ..values import PSObject, as_list, to_str
from .filesystem import FileView
from .providers import long_reg, path_not_found, reach


@cmdlet(
    "Test-Path",
    [
        Param("Path", position=0, aliases=("LiteralPath",)),
        Param("PathType"),
        Param("IsValid", switch=True),
    ],
    pipeline=True,
)
def test_path(ctx: Ctx) -> list[Any]:
    out = []
    for p in as_list(ctx.get("Path")) if ctx.has("Path") else list(ctx.input or []):
        path = to_str(p)
        if is_registry_path(path):
            out.append(ctx.host.get_reg(path) is not None)
            continue
        try:
            f = ctx.host.file(resolve(ctx.session, path))
        except ShareDenied:  # the second hop: Test-Path just says False
            f = None
        kind = to_str(ctx.get("PathType", "Any")).lower()
        if f is None:
            out.append(False)
        elif kind == "leaf":
            out.append(not f.is_dir)
        elif kind == "container":
            out.append(f.is_dir)
        else:
            out.append(True)
    return out


@cmdlet(
    "Get-Item",
    [Param("Path", position=0, aliases=("LiteralPath",)), Param("Force", switch=True)],
    pipeline=True,
)
def get_item(ctx: Ctx) -> list[Any]:
    out: list[Any] = []
    for p in as_list(ctx.get("Path")):
        path = to_str(p)
        if is_registry_path(path):
            values = ctx.host.get_reg(path)
            if values is None:
                raise path_not_found(ctx, path, "GetItemCommand")
            out.append(
                PSObject(
                    {
                        "Name": long_reg(path),
                        "Property": list(values.keys()),
                        "PSChildName": reg_key(path).rsplit("\\", 1)[-1],
                    },
                    type_name="Microsoft.Win32.RegistryKey",
                )
            )
            continue
        f = ctx.host.file(reach(ctx, path, "GetItemCommand"))
        if f is None:
            raise path_not_found(ctx, path, "GetItemCommand")
        out.append(FileView(f))
    return out


@cmdlet(
    "New-Item",
    [
        Param("Path", position=0),
        Param("Name"),
        Param("ItemType", aliases=("Type",)),
        Param("Value"),
        Param("Force", switch=True),
    ],
)
def new_item(ctx: Ctx) -> list[Any]:
    path = to_str(ctx.get("Path"))
    if ctx.has("Name"):
        path = path.rstrip("\\") + "\\" + to_str(ctx.get("Name"))
    if is_registry_path(path):
        if ctx.host.get_reg(path) is None or ctx.switch("Force"):
            ctx.host.set_reg(path, ctx.host.get_reg(path) or {} if not ctx.switch("Force") else {})
        return [PSObject({"Name": long_reg(path)}, type_name="Microsoft.Win32.RegistryKey")]
    is_dir = to_str(ctx.get("ItemType", "File")).lower() == "directory"
    path = reach(ctx, path, "NewItemCommand")
    existing = ctx.host.file(path)
    if existing is not None and not ctx.switch("Force"):
        raise ctx.non_terminating(
            f"An item with the specified name {path} already exists.",
            "DirectoryExist,Microsoft.PowerShell.Commands.NewItemCommand",
            "ResourceExists",
            "System.IO.IOException",
            path,
        )
    if existing is None or not existing.is_dir:
        parts = path.rstrip("\\").split("\\")
        for i in range(1, len(parts)):
            parent = "\\".join(parts[:i])
            if parent and ctx.host.file(parent) is None and (i > 1 or parent.endswith(":")):
                ctx.host.put_file(
                    FileEntry(parent if not parent.endswith(":") else parent + "\\", is_dir=True)
                )
        entry = FileEntry(
            path, to_str(ctx.get("Value")).encode() if ctx.has("Value") else b"", is_dir=is_dir
        )
        ctx.host.put_file(entry)
        existing = entry
    return [FileView(existing)]
