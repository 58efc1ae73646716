"""Files, registry, services, processes, CIM and modules on the modelled host."""

from __future__ import annotations

import hashlib
import ntpath
import re
import threading
import time
from typing import Any

from ...host import (
    AGENT_DLL,
    AGENT_SERVICE,
    FileEntry,
    SimHost,
    file_key,
    is_registry_path,
    reg_key,
)
from ..commands import Ctx, Param, cmdlet
from ..members import LiveObject
from ..operators import wildcard_regex
from ..values import CIDict, PSObject, Version, as_list, to_number, to_str


def _not_found(ctx: Ctx, path: str, cmd: str) -> Exception:
    return ctx.non_terminating(
        f"Cannot find path '{path}' because it does not exist.",
        f"PathNotFound,Microsoft.PowerShell.Commands.{cmd}",
        "ObjectNotFound",
        "System.Management.Automation.ItemNotFoundException",
        path,
    )


def _long_reg(path: str) -> str:
    k = reg_key(path)
    return "HKEY_LOCAL_MACHINE" + k[4:] if k.upper().startswith("HKLM") else k


def _reg_object(
    host: SimHost, path: str, values: dict[str, Any], names: list[str] | None
) -> PSObject:
    props = CIDict()
    for k, v in values.items():
        if names is None or any(k.lower() == n.lower() for n in names):
            props[k] = v
    props["PSPath"] = "Microsoft.PowerShell.Core\\Registry::" + _long_reg(path)
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
            raise _not_found(ctx, path, "GetItemPropertyCommand")
        if names:
            for n in names:
                if not any(k.lower() == n.lower() for k in values):
                    raise ctx.non_terminating(
                        f"Property {n} does not exist at path {_long_reg(path)}.",
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
        raise _not_found(ctx, path, "GetItemPropertyValueCommand")
    out = []
    for n in as_list(ctx.get("Name")):
        key = next((k for k in values if k.lower() == to_str(n).lower()), None)
        if key is None:
            raise ctx.non_terminating(
                f"Property {to_str(n)} does not exist at path {_long_reg(path)}.",
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
        raise _not_found(ctx, path, "SetItemPropertyCommand")
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
        raise _not_found(ctx, path, "NewItemPropertyCommand")
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
        f = ctx.host.file(path)
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
            }
        )

    def __str__(self) -> str:
        return self.entry.path


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
                raise _not_found(ctx, path, "GetItemCommand")
            out.append(
                PSObject(
                    {
                        "Name": _long_reg(path),
                        "Property": list(values.keys()),
                        "PSChildName": reg_key(path).rsplit("\\", 1)[-1],
                    },
                    type_name="Microsoft.Win32.RegistryKey",
                )
            )
            continue
        f = ctx.host.file(path)
        if f is None:
            raise _not_found(ctx, path, "GetItemCommand")
        out.append(FileView(f))
    return out


@cmdlet(
    "Get-ChildItem",
    [
        Param("Path", position=0, aliases=("LiteralPath",)),
        Param("Filter", position=1),
        Param("Recurse", switch=True),
        Param("File", switch=True),
        Param("Directory", switch=True),
        Param("Force", switch=True),
    ],
)
def get_child_item(ctx: Ctx) -> list[Any]:
    path = to_str(ctx.get("Path", "C:\\"))
    base = file_key(path)
    if ctx.host.file(path) is None:
        raise _not_found(ctx, path, "GetChildItemCommand")
    with ctx.host.lock:
        entries = [
            e
            for k, e in ctx.host.files.items()
            if k.startswith(base + "\\")
            and (ctx.switch("Recurse") or "\\" not in k[len(base) + 1 :])
        ]
    return [FileView(e) for e in sorted(entries, key=lambda e: e.path.lower())]


@cmdlet(
    "Get-Content",
    [
        Param("Path", position=0, aliases=("LiteralPath",)),
        Param("Raw", switch=True),
        Param("Encoding"),
    ],
)
def get_content(ctx: Ctx) -> list[Any]:
    path = to_str(ctx.get("Path"))
    f = ctx.host.file(path)
    if f is None or f.is_dir:
        raise _not_found(ctx, path, "GetContentCommand")
    text = f.content.decode("utf-8", "replace")
    return [text] if ctx.switch("Raw") else text.splitlines()


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
    dest = to_str(ctx.get("Destination"))
    out = []
    for p in as_list(ctx.get("Path")):
        src = ctx.host.file(to_str(p))
        if src is None:
            raise _not_found(ctx, to_str(p), "CopyItemCommand")
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
        entry = FileEntry(target, src.content, src.version, src.signer, src.is_dir)
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
        if not ctx.host.remove_file(path):
            raise _not_found(ctx, path, "RemoveItemCommand")
    return []


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
        return [PSObject({"Name": _long_reg(path)}, type_name="Microsoft.Win32.RegistryKey")]
    is_dir = to_str(ctx.get("ItemType", "File")).lower() == "directory"
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


@cmdlet(
    "Get-FileHash",
    [Param("Path", position=0, aliases=("LiteralPath",)), Param("Algorithm")],
    pipeline=True,
)
def get_file_hash(ctx: Ctx) -> list[Any]:
    algo = to_str(ctx.get("Algorithm", "SHA256")).upper()
    funcs = {
        "SHA256": hashlib.sha256,
        "SHA1": hashlib.sha1,
        "SHA384": hashlib.sha384,
        "SHA512": hashlib.sha512,
        "MD5": hashlib.md5,
    }
    if algo not in funcs:
        raise ctx.error(
            f'Cannot validate argument on parameter \'Algorithm\'. The argument "{algo}" does not belong to the set "SHA1,SHA256,SHA384,SHA512,MACTripleDES,MD5,RIPEMD160" specified by the ValidateSet attribute. Supply an argument that is in the set and then try the command again.',  # noqa: E501
            "ParameterArgumentValidationError,Microsoft.PowerShell.Commands.GetFileHashCommand",
            "InvalidData",
            "System.Management.Automation.ParameterBindingValidationException",
        )
    out = []
    for p in as_list(ctx.get("Path")):
        f = ctx.host.file(to_str(p))
        if f is None or f.is_dir:
            raise _not_found(ctx, to_str(p), "GetFileHashCommand")
        out.append(
            PSObject(
                {
                    "Algorithm": algo,
                    "Hash": funcs[algo](f.content).hexdigest().upper(),
                    "Path": f.path,
                },
                type_name="Microsoft.Powershell.Utility.FileHash",
            )
        )
    return out


@cmdlet(
    "Get-AuthenticodeSignature",
    [Param("FilePath", position=0, aliases=("Path", "LiteralPath"))],
    pipeline=True,
)
def get_authenticode_signature(ctx: Ctx) -> list[Any]:
    out = []
    for p in as_list(ctx.get("FilePath")):
        f = ctx.host.file(to_str(p))
        if f is None or f.is_dir:
            raise _not_found(ctx, to_str(p), "GetAuthenticodeSignatureCommand")
        if f.signer:
            cert = PSObject(
                {
                    "Subject": f.signer,
                    "Issuer": "CN=Microsoft Code Signing PCA 2011, O=Microsoft Corporation, L=Redmond, S=Washington, C=US",  # noqa: E501
                    "Thumbprint": "F252E794FE438E35ACE6E53762C0A234A2C52135",
                },
                type_name="System.Security.Cryptography.X509Certificates.X509Certificate2",
            )
            out.append(
                PSObject(
                    {
                        "SignerCertificate": cert,
                        "Status": "Valid",
                        "StatusMessage": "Signature verified.",
                        "Path": f.path,
                        "SignatureType": "Authenticode",
                    },
                    type_name="System.Management.Automation.Signature",
                )
            )
        else:
            out.append(
                PSObject(
                    {
                        "SignerCertificate": None,
                        "Status": "NotSigned",
                        "StatusMessage": "The file is not digitally signed.",
                        "Path": f.path,
                        "SignatureType": "None",
                    },
                    type_name="System.Management.Automation.Signature",
                )
            )
    return out


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


# ---- services ----------------------------------------------------------------------


class ServiceView(LiveObject):
    """System.ServiceProcess.ServiceController: reads the host's state on every access."""

    type_name = "System.ServiceProcess.ServiceController"

    def __init__(self, host: SimHost, name: str) -> None:
        self.host = host
        self.name = name

    def ps_props(self) -> CIDict:
        s = self.host.service(self.name)
        if s is None:
            return CIDict({"Name": self.name, "Status": "Stopped"})
        return CIDict(
            {
                "Status": s.status,
                "Name": s.name,
                "DisplayName": s.display_name,
                "ServiceName": s.name,
                "StartType": s.start_type,
                "CanStop": s.status == "Running",
            }
        )

    def ps_method(self, name: str, args: list[Any]) -> Any:
        if name in ("refresh", "waitforstatus"):
            return None
        raise AttributeError(name)

    def __str__(self) -> str:
        return "System.ServiceProcess.ServiceController"


def _service_names(ctx: Ctx) -> list[str]:
    if ctx.has("Name"):
        return [to_str(n) for n in as_list(ctx.get("Name"))]
    if ctx.has("InputObject"):
        return [
            x.name if isinstance(x, ServiceView) else to_str(x)
            for x in as_list(ctx.get("InputObject"))
        ]
    return [x.name if isinstance(x, ServiceView) else to_str(x) for x in (ctx.input or [])]


def _missing_service(ctx: Ctx, name: str, cmd: str) -> Exception:
    return ctx.non_terminating(
        f"Cannot find any service with service name '{name}'.",
        f"NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.{cmd}",
        "ObjectNotFound",
        "Microsoft.PowerShell.Commands.ServiceCommandException",
        name,
    )


@cmdlet(
    "Get-Service",
    [
        Param("Name", position=0, aliases=("ServiceName",)),
        Param("DisplayName"),
        Param("InputObject"),
    ],
    pipeline=True,
)
def get_service(ctx: Ctx) -> list[Any]:
    if not ctx.has("Name") and not ctx.has("DisplayName"):
        with ctx.host.lock:
            names = sorted(s.name for s in ctx.host.services.values())
        return [ServiceView(ctx.host, n) for n in names]
    out: list[Any] = []
    if ctx.has("DisplayName"):
        rx = wildcard_regex(to_str(ctx.get("DisplayName")))
        with ctx.host.lock:
            names = [s.name for s in ctx.host.services.values() if rx.fullmatch(s.display_name)]
        return [ServiceView(ctx.host, n) for n in names]
    for n in _service_names(ctx):
        if "*" in n:
            rx = wildcard_regex(n)
            with ctx.host.lock:
                out.extend(
                    ServiceView(ctx.host, s.name)
                    for s in ctx.host.services.values()
                    if rx.fullmatch(s.name)
                )
            continue
        s = ctx.host.service(n)
        if s is None:
            raise _missing_service(ctx, n, "GetServiceCommand")
        out.append(ServiceView(ctx.host, s.name))
    return out


def _set_status(ctx: Ctx, status: str, cmd: str, event: str | None) -> list[Any]:
    out = []
    for n in _service_names(ctx):
        s = ctx.host.service(n)
        if s is None:
            raise _missing_service(ctx, n, cmd)
        if (
            status == "Running"
            and s.name.lower() == AGENT_SERVICE.lower()
            and not _agent_can_run(ctx.host)
        ):
            raise ctx.non_terminating(
                f"Service 'Microsoft Azure AD Connect Provisioning Agent ({s.name})' cannot be started due to the following error: Cannot start service {s.name} on computer '.'.",  # noqa: E501
                f"CouldNotStartService,Microsoft.PowerShell.Commands.{cmd}",
                "OpenError",
                "Microsoft.PowerShell.Commands.ServiceCommandException",
                s.name,
            )
        with ctx.host.lock:
            s.status = status
        if event:
            ctx.host.record.event(event, host=ctx.host.name, service=s.name)
        if s.name.lower() == AGENT_SERVICE.lower() and event == "service_restarted":
            ctx.host.tenant.close_windows(ctx.host.name, ctx.session.session_id)
        if ctx.switch("PassThru"):
            out.append(ServiceView(ctx.host, s.name))
    return out


def _agent_can_run(host: SimHost) -> bool:
    return host.installed()


SERVICE_PARAMS = [
    Param("Name", position=0, aliases=("ServiceName",)),
    Param("Force", switch=True),
    Param("PassThru", switch=True),
    Param("InputObject"),
    Param("NoWait", switch=True),
    Param("DisplayName"),
]


@cmdlet("Start-Service", SERVICE_PARAMS, pipeline=True)
def start_service(ctx: Ctx) -> list[Any]:
    return _set_status(ctx, "Running", "StartServiceCommand", "service_started")


@cmdlet("Stop-Service", SERVICE_PARAMS, pipeline=True)
def stop_service(ctx: Ctx) -> list[Any]:
    return _set_status(ctx, "Stopped", "StopServiceCommand", "service_stopped")


@cmdlet("Restart-Service", SERVICE_PARAMS, pipeline=True)
def restart_service(ctx: Ctx) -> list[Any]:
    return _set_status(ctx, "Running", "RestartServiceCommand", "service_restarted")


# ---- CIM -----------------------------------------------------------------------------


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


cmdlet(
    "Get-WmiObject",
    [
        Param("Class", position=0, aliases=("ClassName",)),
        Param("Filter"),
        Param("Namespace"),
        Param("ComputerName"),
    ],
)(lambda ctx: get_cim_instance(_rename(ctx)))


def _rename(ctx: Ctx) -> Ctx:
    if ctx.has("Class"):
        ctx.bound["ClassName"] = ctx.get("Class")
    return ctx


# ---- processes ---------------------------------------------------------------------


class ProcessView(LiveObject):
    """System.Diagnostics.Process for Start-Process -PassThru and Get-Process."""

    type_name = "System.Diagnostics.Process"

    def __init__(self, host: SimHost, pid: int) -> None:
        self.host = host
        self.pid = pid

    def _info(self) -> dict[str, Any]:
        with self.host.lock:
            return dict(self.host.processes.get(self.pid, {}))

    def ps_props(self) -> CIDict:
        info = self._info()
        return CIDict(
            {
                "Id": self.pid,
                "ProcessName": info.get("name"),
                "Name": info.get("name"),
                "HasExited": info.get("exit_code") is not None,
                "ExitCode": info.get("exit_code"),
                "Path": info.get("path"),
                "StartTime": info.get("start"),
            }
        )

    def ps_method(self, name: str, args: list[Any]) -> Any:
        if name == "waitforexit":
            ev = self._info().get("done")
            if isinstance(ev, threading.Event):
                while not ev.wait(0.05):
                    pass
            return True
        if name == "refresh":
            return None
        raise AttributeError(name)

    def __str__(self) -> str:
        return f"System.Diagnostics.Process ({self._info().get('name')})"


@cmdlet("Get-Process", [Param("Name", position=0, aliases=("ProcessName",)), Param("Id")])
def get_process(ctx: Ctx) -> list[Any]:
    with ctx.host.lock:
        running = {pid: p for pid, p in ctx.host.processes.items() if p.get("exit_code") is None}
    if ctx.has("Id"):
        ids = [int(to_number(i)) for i in as_list(ctx.get("Id"))]
        for i in ids:
            if i not in running:
                raise ctx.non_terminating(
                    f"Cannot find a process with the process identifier {i}.",
                    "NoProcessFoundForGivenId,Microsoft.PowerShell.Commands.GetProcessCommand",
                    "ObjectNotFound",
                    "Microsoft.PowerShell.Commands.ProcessCommandException",
                    i,
                )
        return [ProcessView(ctx.host, i) for i in ids]
    if not ctx.has("Name"):
        return [ProcessView(ctx.host, pid) for pid in sorted(running)]
    out: list[Any] = []
    for n in as_list(ctx.get("Name")):
        name = to_str(n).lower()
        hits = [pid for pid, p in running.items() if to_str(p.get("name")).lower() == name]
        if not hits:
            raise ctx.non_terminating(
                f'Cannot find a process with the name "{to_str(n)}". Verify the process name and call the cmdlet again.',  # noqa: E501
                "NoProcessFoundForGivenName,Microsoft.PowerShell.Commands.GetProcessCommand",
                "ObjectNotFound",
                "Microsoft.PowerShell.Commands.ProcessCommandException",
                to_str(n),
            )
        out.extend(ProcessView(ctx.host, pid) for pid in hits)
    return out


def _installer_thread(host: SimHost, pid: int, session: Any) -> None:
    """The installer's modelled run: duration, exit code, and what it leaves behind."""
    with host.lock:
        info = host.processes[pid]
    code = info["planned_exit"]
    if host.install_s > 0:
        time.sleep(host.install_s)
    if code in (0, 3010):
        host.apply_install()
    with host.lock:
        info["exit_code"] = code
        host.installer_running = False
    host.record.event("installer_run", host=host.name, exit_code=code, arguments=info.get("args"))
    info["done"].set()


@cmdlet(
    "Start-Process",
    [
        Param("FilePath", position=0, aliases=("PSPath", "Path")),
        Param("ArgumentList", position=1, aliases=("Args",)),
        Param("Wait", switch=True),
        Param("PassThru", switch=True),
        Param("NoNewWindow", switch=True),
        Param("WindowStyle"),
        Param("Verb"),
        Param("WorkingDirectory"),
        Param("RedirectStandardOutput"),
        Param("RedirectStandardError"),
        Param("Credential"),
        Param("LoadUserProfile", switch=True),
    ],
)
def start_process(ctx: Ctx) -> list[Any]:
    host = ctx.host
    path = to_str(ctx.get("FilePath"))
    args = [to_str(a) for a in as_list(ctx.get("ArgumentList"))]
    entry = host.file(path)
    base = ntpath.basename(path).lower()
    known = {"powershell.exe", "cmd.exe", "msiexec.exe", "hostname.exe", "whoami.exe"}
    if entry is None and base not in known:
        raise ctx.error(
            "This command cannot be run due to the error: The system cannot find the file specified.",  # noqa: E501
            "InvalidOperationException,Microsoft.PowerShell.Commands.StartProcessCommand",
            "InvalidOperation",
            "System.InvalidOperationException",
        )
    host.log_command_line(f'"{path}" ' + " ".join(args) if args else f'"{path}"')
    pid = host.next_pid()
    done = threading.Event()
    name = ntpath.splitext(ntpath.basename(path))[0]
    info: dict[str, Any] = {
        "name": name,
        "path": path,
        "args": args,
        "exit_code": None,
        "done": done,
        "start": time.time(),
    }
    if base == "aadconnectprovisioningagentsetup.exe":
        with host.lock:
            busy = host.installer_running
            if not busy:
                host.installer_running = True
                info["planned_exit"] = (
                    host.installer_exit_codes.pop(0) if host.installer_exit_codes else 0
                )
            host.processes[pid] = info
        if busy:
            with host.lock:
                info["exit_code"] = 1618
            host.record.event(
                "installer_run", host=host.name, exit_code=1618, arguments=args, reason="mutex"
            )
            done.set()
        else:
            if ctx.switch("Wait"):
                ctx.session.runner.add_modelled(host.install_s)
            threading.Thread(
                target=_installer_thread, args=(host, pid, ctx.session), daemon=True
            ).start()
    else:
        with host.lock:
            info["exit_code"] = 0
            host.processes[pid] = info
        done.set()
    if ctx.switch("Wait"):
        while not done.wait(0.02):
            ctx.session.check_cancel()
    return [ProcessView(host, pid)] if ctx.switch("PassThru") else []


# ---- modules ---------------------------------------------------------------------------

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


@cmdlet(
    "Get-Module",
    [Param("Name", position=0), Param("ListAvailable", switch=True), Param("All", switch=True)],
)
def get_module(ctx: Ctx) -> list[Any]:
    mods = [
        PSObject(
            {
                "Name": m,
                "Path": AGENT_DLL,
                "ModuleType": "Binary",
                "Version": Version(ctx.host.agent_version),
            }
        )
        for m in ctx.session.modules.values()
    ]
    if ctx.has("Name"):
        want = {to_str(n).lower() for n in as_list(ctx.get("Name"))}
        mods = [m for m in mods if to_str(m.props["Name"]).lower() in want]
    return list(mods)


@cmdlet("Get-KdsRootKey", [])
def get_kds_root_key(ctx: Ctx) -> list[Any]:
    tenant = ctx.host.tenant
    root = tenant.domains.get(tenant.forest_root)
    if root and root["kds_root_key"]:
        return [
            PSObject(
                {
                    "KeyId": "c3f5e1a2-7b1d-4e0e-9f1a-0d8b6f5e3c21",
                    "EffectiveTime": "1/1/2024 12:00:00 AM",
                    "DomainController": "CN=" + root["dcs"][0].split(".")[0].upper(),
                }
            )
        ]
    return []


@cmdlet(
    "Test-NetConnection",
    [
        Param("ComputerName", position=0),
        Param("Port"),
        Param("InformationLevel"),
        Param("CommonTCPPort"),
    ],
)
def test_net_connection(ctx: Ctx) -> list[Any]:
    """Outbound reachability as the scenario says (``outbound_443``); nothing is contacted."""
    ok = bool(ctx.host.outbound_443)
    if to_str(ctx.get("InformationLevel")).lower() == "quiet":
        return [ok]
    return [
        PSObject(
            {
                "ComputerName": to_str(ctx.get("ComputerName")),
                "RemotePort": int(to_number(ctx.get("Port", 80))),
                "TcpTestSucceeded": ok,
            }
        )
    ]
