"""What the registry and file-system cmdlets share: PowerShell's path-not-found error and
the registry's long path form (HKEY_LOCAL_MACHINE\\...) that its messages and PSPath show.
"""

from __future__ import annotations

from ...host import reg_key
from ..commands import Ctx
from ..paths import ShareDenied, resolve


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


def access_denied(ctx: Ctx, path: str, cmd: str) -> Exception:
    """What a network logon gets from a file share (the second hop): PermissionDenied."""
    return ctx.non_terminating(
        "Access is denied",
        f"ItemExistsUnauthorizedAccessError,Microsoft.PowerShell.Commands.{cmd}",
        "PermissionDenied",
        "System.UnauthorizedAccessException",
        path,
    )


def reach(ctx: Ctx, path: str, cmd: str) -> str:
    """The path as stored (mapped drives resolved), or Access is denied on an unmapped share."""
    try:
        return resolve(ctx.session, path)
    except ShareDenied:
        raise access_denied(ctx, path, cmd) from None
