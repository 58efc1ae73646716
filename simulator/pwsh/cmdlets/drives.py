"""New-PSDrive / Remove-PSDrive on the file-system provider: how a WinRM session reaches a file
share despite the second hop, by mapping it with an explicit credential for this session only.

PowerShell's FileSystem provider connects a UNC root given with -Credential (WNetAddConnection2),
so the share's server sees that user, not the network logon that has nothing to pass on
(Microsoft Learn, "Making the second hop in PowerShell Remoting"; New-PSDrive). Until
Remove-PSDrive, both ``X:`` and the UNC path work in this session; no other session gains it.
(Public reports show this pattern working inside Invoke-Command; still to be checked on a real
server, where PowerShell issue 11333 reports an intermittent "logon session does not exist".)
"""

from __future__ import annotations

from typing import Any

from ..commands import Ctx, Param, cmdlet
from ..paths import share_root
from ..values import PSCredential, PSObject, to_str


@cmdlet(
    "New-PSDrive",
    [
        Param("Name", position=0),
        Param("PSProvider", position=1),
        Param("Root", position=2),
        Param("Credential"),
        Param("Scope"),
        Param("Persist", switch=True),
        Param("Description"),
    ],
)
def new_psdrive(ctx: Ctx) -> list[Any]:
    name = to_str(ctx.get("Name")).rstrip(":").upper()
    root = to_str(ctx.get("Root"))
    provider = to_str(ctx.get("PSProvider", "FileSystem")).lower()
    if provider not in ("filesystem", "microsoft.powershell.core\\filesystem"):
        raise ctx.error(
            f"Cannot find a provider with the name '{ctx.get('PSProvider')}'.",
            "ProviderNotFound,Microsoft.PowerShell.Commands.NewPSDriveCommand",
            "ObjectNotFound",
            "System.Management.Automation.ProviderNotFoundException",
        )
    if name in ctx.session.psdrives or name in ("C", "HKLM", "HKCU", "ENV", "FUNCTION"):
        raise ctx.error(
            f"A drive with the name '{name}' already exists.",
            "DriveAlreadyExists,Microsoft.PowerShell.Commands.NewPSDriveCommand",
            "ResourceExists",
            "System.Management.Automation.SessionStateException",
        )
    share = share_root(root)
    cred = ctx.get("Credential")
    if share is not None and isinstance(cred, PSCredential):
        if not ctx.host.share_login(share, cred.user, cred.password.reveal()):
            raise ctx.error(
                "The user name or password is incorrect",
                "CouldNotMapNetworkDrive,Microsoft.PowerShell.Commands.NewPSDriveCommand",
                "InvalidOperation",
                "System.ComponentModel.Win32Exception",
            )
        ctx.session.share_logons[share] = cred.user
        ctx.host.record.event("share_mapped", host=ctx.host.name, root=share, user=cred.user)
    elif share is not None and not (
        ctx.session.delegated or ctx.host.credssp_delegation or share in ctx.session.share_logons
    ):
        # Without a credential the drive root is checked with the network logon: refused.
        raise ctx.error(
            f'The specified drive root "{root}" either does not exist, or it is not a folder.',
            "DriveRootError,Microsoft.PowerShell.Commands.NewPSDriveCommand",
            "ReadError",
            "System.IO.IOException",
        )
    elif ctx.host.file(root) is None:
        raise ctx.error(
            f'The specified drive root "{root}" either does not exist, or it is not a folder.',
            "DriveRootError,Microsoft.PowerShell.Commands.NewPSDriveCommand",
            "ReadError",
            "System.IO.IOException",
        )
    ctx.session.psdrives[name] = root
    return [
        PSObject(
            {"Name": name, "Provider": "FileSystem", "Root": root, "Used": None, "Free": None},
            type_name="System.Management.Automation.PSDriveInfo",
        )
    ]


@cmdlet(
    "Remove-PSDrive",
    [Param("Name", position=0), Param("PSProvider"), Param("Scope"), Param("Force", switch=True)],
)
def remove_psdrive(ctx: Ctx) -> list[Any]:
    name = to_str(ctx.get("Name")).rstrip(":").upper()
    root = ctx.session.psdrives.pop(name, None)
    if root is None:
        raise ctx.non_terminating(
            f"Cannot find drive. A drive with the name '{name}' does not exist.",
            "DriveNotFound,Microsoft.PowerShell.Commands.RemovePSDriveCommand",
            "ObjectNotFound",
            "System.Management.Automation.DriveNotFoundException",
            name,
        )
    share = share_root(root)
    still_mapped = {share_root(r) for r in ctx.session.psdrives.values()}
    if share is not None and share not in still_mapped:
        ctx.session.share_logons.pop(share, None)
        ctx.host.record.event("share_unmapped", host=ctx.host.name, root=share)
    return []
