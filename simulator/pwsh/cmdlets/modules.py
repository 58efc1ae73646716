"""PowerShell modules: Import-Module of the agent's module, which makes its cmdlets visible."""

from __future__ import annotations

import ntpath
from typing import Any

from ...host import AGENT_DLL, file_key
from ..commands import Ctx, Param, cmdlet
from ..values import PSObject, Version, as_list, to_str

AGENT_MODULE = "Microsoft.CloudSync.PowerShell"


@cmdlet(
    "Import-Module",
    [
        Param("Name", position=0),
        Param("Force", switch=True),
        Param("PassThru", switch=True),
        Param("Global", switch=True),
        Param("DisableNameChecking", switch=True),
        Param("MinimumVersion"),
        Param("RequiredVersion"),
    ],
)
def import_module(ctx: Ctx) -> list[Any]:
    out = []
    for n in as_list(ctx.get("Name")):
        name = to_str(n)
        base = ntpath.basename(name).lower()
        is_agent = base in ("microsoft.cloudsync.powershell.dll", "microsoft.cloudsync.powershell")
        path_ok = ctx.host.file(name) is not None if "\\" in name else False
        if is_agent and path_ok and file_key(name) == file_key(AGENT_DLL):
            ctx.session.modules["agent"] = AGENT_MODULE
            if ctx.switch("PassThru"):
                out.append(
                    PSObject(
                        {
                            "Name": AGENT_MODULE,
                            "Path": AGENT_DLL,
                            "Version": Version(ctx.host.agent_version),
                        }
                    )
                )
            continue
        if base in (
            "microsoft.powershell.management",
            "microsoft.powershell.utility",
            "microsoft.powershell.security",
            "cimcmdlets",
        ):
            continue
        raise ctx.non_terminating(
            f"The specified module '{name}' was not loaded because no valid module file was found in any module directory.",  # noqa: E501
            "Modules_ModuleNotFound,Microsoft.PowerShell.Commands.ImportModuleCommand",
            "ResourceUnavailable",
            "System.IO.FileNotFoundException",
            name,
        )
    return out
