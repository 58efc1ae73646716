"""The registry provider's property cmdlets: read and write values under HKLM (TLS 1.2
settings, the agent's install key).
"""

from __future__ import annotations

from typing import Any

from ...host import SimHost, is_registry_path, reg_key
from ..commands import Ctx, Param, cmdlet
from ..values import CIDict, PSObject, as_list, to_number, to_str
from .providers import long_reg, path_not_found


def _reg_object(
    host: SimHost, path: str, values: dict[str, Any], names: list[str] | None
) -> PSObject:
    props = CIDict()
    for k, v in values.items():
        if names is None or any(k.lower() == n.lower() for n in names):
            props[k] = v
    props["PSPath"] = "Microsoft.PowerShell.Core\\Registry::" + long_reg(path)
    props["PSChildName"] = reg_key(path).rsplit("\\", 1)[-1]
    props["PSProvider"] = "Microsoft.PowerShell.Core\\Registry"
    return PSObject(props)


@cmdlet(
    "Get-ItemProperty",
    [Param("Path", position=0, aliases=("LiteralPath", "PSPath")), Param("Name", position=1)],
    pipeline=True,
)
def get_item_property(ctx: Ctx) -> list[Any]:
    out = []
    names = [to_str(n) for n in as_list(ctx.get("Name"))] or None
    for p in as_list(ctx.get("Path")):
        path = to_str(p)
        values = ctx.host.get_reg(path) if is_registry_path(path) else None
        if values is None:
            raise path_not_found(ctx, path, "GetItemPropertyCommand")
        if names:
            for n in names:
                if not any(k.lower() == n.lower() for k in values):
                    raise ctx.non_terminating(
                        f"Property {n} does not exist at path {long_reg(path)}.",
                        "System.Management.Automation.PSArgumentException,Microsoft.PowerShell.Commands.GetItemPropertyCommand",
                        "InvalidArgument",
                        "System.Management.Automation.PSArgumentException",
                        n,
                    )
        out.append(_reg_object(ctx.host, path, values, names))
    return out


@cmdlet(
    "Get-ItemPropertyValue",
    [Param("Path", position=0, aliases=("LiteralPath",)), Param("Name", position=1)],
)
def get_item_property_value(ctx: Ctx) -> list[Any]:
    path = to_str(ctx.get("Path"))
    values = ctx.host.get_reg(path) if is_registry_path(path) else None
    if values is None:
        raise path_not_found(ctx, path, "GetItemPropertyValueCommand")
    out = []
    for n in as_list(ctx.get("Name")):
        key = next((k for k in values if k.lower() == to_str(n).lower()), None)
        if key is None:
            raise ctx.non_terminating(
                f"Property {to_str(n)} does not exist at path {long_reg(path)}.",
                "System.Management.Automation.PSArgumentException,Microsoft.PowerShell.Commands.GetItemPropertyValueCommand",
                "InvalidArgument",
                "System.Management.Automation.PSArgumentException",
                n,
            )
        out.append(values[key])
    return out


@cmdlet(
    "Set-ItemProperty",
    [
        Param("Path", position=0),
        Param("Name", position=1),
        Param("Value", position=2),
        Param("Type"),
        Param("Force", switch=True),
        Param("PassThru", switch=True),
    ],
)
def set_item_property(ctx: Ctx) -> list[Any]:
    path = to_str(ctx.get("Path"))
    if ctx.host.get_reg(path) is None:
        raise path_not_found(ctx, path, "SetItemPropertyCommand")
    with ctx.host.lock:
        ctx.host.reg_values(path)[to_str(ctx.get("Name"))] = ctx.get("Value")
    return []


@cmdlet(
    "New-ItemProperty",
    [
        Param("Path", position=0),
        Param("Name", position=1),
        Param("Value"),
        Param("PropertyType", aliases=("Type",)),
        Param("Force", switch=True),
    ],
)
def new_item_property(ctx: Ctx) -> list[Any]:
    path = to_str(ctx.get("Path"))
    values = ctx.host.get_reg(path)
    if values is None:
        raise path_not_found(ctx, path, "NewItemPropertyCommand")
    name = to_str(ctx.get("Name"))
    if any(k.lower() == name.lower() for k in values) and not ctx.switch("Force"):
        raise ctx.non_terminating(
            "The property already exists.",
            "System.IO.IOException,Microsoft.PowerShell.Commands.NewItemPropertyCommand",
            "ResourceExists",
            "System.IO.IOException",
            path,
        )
    value = ctx.get("Value")
    if to_str(ctx.get("PropertyType")).lower() in ("dword", "qword"):
        value = int(to_number(value))
    with ctx.host.lock:
        ctx.host.reg_values(path)[name] = value
    return [_reg_object(ctx.host, path, {name: value}, None)]
