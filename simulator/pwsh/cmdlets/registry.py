"""The registry provider's property cmdlet: Get-ItemProperty reads values under HKLM (TLS 1.2
settings, the agent's install key).
"""

from __future__ import annotations

from typing import Any

from ...host import SimHost, is_registry_path, reg_key
from ..commands import Ctx, Param, cmdlet
from ..values import CIDict, PSObject, as_list, to_str
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
