"""CIM queries: the operating system, services, the system disk and the computer system."""

from __future__ import annotations

import re
from typing import Any

from ...host import SimHost
from ..commands import Ctx, Param, cmdlet
from ..values import PSObject, to_str


def _cim_os(host: SimHost) -> PSObject:
    return PSObject(
        {
            "Caption": host.os_caption,
            "Version": host.os_version,
            "BuildNumber": host.os_version.split(".")[-1],
            "OperatingSystemSKU": 8,
            "TotalVisibleMemorySize": host.memory_kb,
            "FreePhysicalMemory": host.memory_kb // 2,
            "CSName": host.name,
            "OSArchitecture": "64-bit",
            "ProductType": 3,
        },
        type_name="Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_OperatingSystem",
    )


def _cim_services(host: SimHost) -> list[PSObject]:
    with host.lock:
        svcs = list(host.services.values())
    return [
        PSObject(
            {
                "Name": s.name,
                "DisplayName": s.display_name,
                "State": s.status,
                "ProcessId": s.pid if s.status == "Running" else 0,
                "StartMode": "Auto" if s.start_type == "Automatic" else s.start_type,
                "StartName": s.start_name,
                "PathName": s.path_name,
            },
            type_name="Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_Service",
        )
        for s in svcs
    ]


def _filter(objs: list[PSObject], flt: str) -> list[PSObject]:
    """WQL filters of the form Name='X' (AND-ed)."""
    conds = re.findall(r"(\w+)\s*=\s*['\"]([^'\"]*)['\"]", flt)
    return [o for o in objs if all(to_str(o.props.get(k)).lower() == v.lower() for k, v in conds)]


@cmdlet(
    "Get-CimInstance",
    [
        Param("ClassName", position=0, aliases=("Class",)),
        Param("Filter"),
        Param("Namespace"),
        Param("Query"),
        Param("ComputerName"),
    ],
)
def get_cim_instance(ctx: Ctx) -> list[Any]:
    cls = to_str(ctx.get("ClassName")).lower()
    host = ctx.host
    objs: list[PSObject]
    if cls == "win32_operatingsystem":
        objs = [_cim_os(host)]
    elif cls == "win32_service":
        objs = _cim_services(host)
    elif cls == "win32_logicaldisk":
        objs = [
            PSObject(
                {
                    "DeviceID": "C:",
                    "FreeSpace": host.free_disk_bytes,
                    "Size": 127 * 1024**3,
                    "DriveType": 3,
                }
            )
        ]
    elif cls == "win32_computersystem":
        objs = [
            PSObject(
                {
                    "Name": host.name,
                    "Domain": host.domain,
                    "PartOfDomain": bool(host.domain),
                    "TotalPhysicalMemory": host.memory_kb * 1024,
                }
            )
        ]
    else:
        raise ctx.non_terminating(
            "Invalid class ",
            "HRESULT 0x80041010,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand",  # noqa: E501
            "MetadataError",
            "Microsoft.Management.Infrastructure.CimException",
            cls,
        )
    if ctx.has("Filter"):
        objs = _filter(objs, to_str(ctx.get("Filter")))
    return list(objs)
