"""What the registry and file-system cmdlets share: PowerShell's path-not-found error and
the registry's long path form (HKEY_LOCAL_MACHINE\\...) that its messages and PSPath show.
"""

from __future__ import annotations

from ...host import reg_key
from ..commands import Ctx


def path_not_found(ctx: Ctx, path: str, cmd: str) -> Exception:
    return ctx.non_terminating(
        f"Cannot find path '{path}' because it does not exist.",
        f"PathNotFound,Microsoft.PowerShell.Commands.{cmd}",
        "ObjectNotFound",
        "System.Management.Automation.ItemNotFoundException",
        path,
    )


def long_reg(path: str) -> str:
    k = reg_key(path)
    return "HKEY_LOCAL_MACHINE" + k[4:] if k.upper().startswith("HKLM") else k
