"""Output, credentials, sleeping, dates, object creation and the execution policy."""

from __future__ import annotations

import datetime
from typing import Any

from ...host import EXECUTION_POLICY_SCOPES
from .. import xmldom
from ..commands import (
    ALIASES,
    REGISTRY,
    Ctx,
    NonTerminating,
    Param,
    available,
    cmdlet,
    not_recognized,
)
from ..members import format_date
from ..values import (
    CIDict,
    ErrorRecord,
    PSCredential,
    PSDate,
    PSObject,
    SecureString,
    as_list,
    to_number,
    to_str,
)


def _inputs(ctx: Ctx, name: str) -> list[Any]:
    if ctx.has(name):
        return as_list(ctx.get(name))
    return list(ctx.input or [])


@cmdlet(
    "Write-Output",
    [Param("InputObject", position=0, remaining=True), Param("NoEnumerate", switch=True)],
    pipeline=True,
)
def write_output(ctx: Ctx) -> list[Any]:
    if ctx.has("InputObject"):
        v = ctx.get("InputObject")
        return [v] if ctx.switch("NoEnumerate") else as_list(v)
    return list(ctx.input or [])


@cmdlet(
    "Write-Host",
    [
        Param("Object", position=0, remaining=True),
        Param("NoNewline", switch=True),
        Param("Separator"),
        Param("ForegroundColor"),
        Param("BackgroundColor"),
    ],
    pipeline=True,
)
def write_host(ctx: Ctx) -> list[Any]:
    sep = to_str(ctx.get("Separator", " "))
    objs = _inputs(ctx, "Object")
    text = sep.join(to_str(o) for o in objs)
    ctx.session.write_stdout(text + ("" if ctx.switch("NoNewline") else "\r\n"))
    return []


@cmdlet(
    "Write-Error",
    [
        Param("Message", position=0),
        Param("Category"),
        Param("ErrorId"),
        Param("TargetObject"),
        Param("Exception"),
        Param("ErrorRecord"),
    ],
)
def write_error(ctx: Ctx) -> list[Any]:
    msg = to_str(ctx.get("Message") or ctx.get("Exception") or ctx.get("ErrorRecord"))
    fqid = to_str(ctx.get("ErrorId") or "Microsoft.PowerShell.Commands.WriteErrorException")
    record = ErrorRecord(
        msg,
        fqid,
        to_str(ctx.get("Category") or "NotSpecified"),
        "Microsoft.PowerShell.Commands.WriteErrorException",
        target=ctx.get("TargetObject"),
        command="Write-Error",
    )
    raise NonTerminating(record)


@cmdlet("Out-Null", [Param("InputObject")], pipeline=True)
def out_null(ctx: Ctx) -> list[Any]:
    return []


@cmdlet("Start-Sleep", [Param("Seconds", position=0), Param("Milliseconds")])
def start_sleep(ctx: Ctx) -> list[Any]:
    seconds = (
        float(to_number(ctx.get("Seconds", 0)))
        + float(to_number(ctx.get("Milliseconds", 0))) / 1000
    )
    ctx.sleep(seconds)
    return []


@cmdlet("Get-Date", [Param("Date", position=0), Param("Format"), Param("UFormat")])
def get_date(ctx: Ctx) -> list[Any]:
    now = datetime.datetime.now()
    if ctx.has("Format"):
        return [format_date(now, to_str(ctx.get("Format")))]
    return [PSDate(now)]


@cmdlet(
    "ConvertTo-SecureString",
    [
        Param("String", position=0),
        Param("AsPlainText", switch=True),
        Param("Force", switch=True),
        Param("Key"),
        Param("SecureKey"),
    ],
    pipeline=True,
)
def convertto_securestring(ctx: Ctx) -> list[Any]:
    values = _inputs(ctx, "String")
    if not ctx.switch("AsPlainText"):
        raise ctx.error(
            "Input string was not in a correct format.",
            "ImportSecureString_InvalidArgument,Microsoft.PowerShell.Commands.ConvertToSecureStringCommand",
            "InvalidArgument",
            "System.FormatException",
        )
    if not ctx.switch("Force"):
        raise ctx.error(
            "The system cannot protect plain text input. To suppress this warning and convert the "
            "plain text to a SecureString, reissue the command specifying the Force parameter. For "
            "more information, type: get-help ConvertTo-SecureString.",
            "ImportSecureString_ForceRequired,Microsoft.PowerShell.Commands.ConvertToSecureStringCommand",
            "InvalidArgument",
            "System.ArgumentException",
        )
    if not values or values[0] is None:
        raise ctx.error(
            "Cannot bind argument to parameter 'String' because it is null.",
            "ParameterArgumentValidationErrorNullNotAllowed,Microsoft.PowerShell.Commands.ConvertToSecureStringCommand",
            "InvalidData",
            "System.Management.Automation.ParameterBindingValidationException",
        )
    return [SecureString(to_str(v)) for v in values]


@cmdlet(
    "Get-Credential",
    [Param("Credential", position=0), Param("UserName"), Param("Message"), Param("Title")],
)
def get_credential(ctx: Ctx) -> list[Any]:
    if isinstance(ctx.get("Credential"), PSCredential):
        return [ctx.get("Credential")]
    if not ctx.session.interactive:
        raise ctx.error(
            "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
            "System.InvalidOperationException,Microsoft.PowerShell.Commands.GetCredentialCommand",
            "InvalidOperation",
            "System.InvalidOperationException",
        )
    raise ctx.error(
        "Cannot prompt because the host is not interactive: no console is attached to this "
        "remote session. Read and Prompt functionality is not available.",
        "System.Management.Automation.Host.HostException,Microsoft.PowerShell.Commands.GetCredentialCommand",
        "ResourceUnavailable",
        "System.Management.Automation.Host.HostException",
    )


CRED_TYPES = (
    "system.management.automation.pscredential",
    "management.automation.pscredential",
    "pscredential",
)


@cmdlet(
    "New-Object",
    [
        Param("TypeName", position=0),
        Param("ArgumentList", position=1, aliases=("Args",)),
        Param("Property"),
    ],
)
def new_object(ctx: Ctx) -> list[Any]:
    tn = to_str(ctx.get("TypeName")).strip()
    low = tn.lower()
    args = as_list(ctx.get("ArgumentList"))
    if low in CRED_TYPES:
        if len(args) != 2 or not isinstance(args[1], SecureString):
            raise ctx.error(
                f'Cannot find an overload for "PSCredential" and the argument count: "{len(args)}".',  # noqa: E501
                "ConstructorInvokedThrowException,Microsoft.PowerShell.Commands.NewObjectCommand",
                "InvalidOperation",
                "System.Management.Automation.MethodException",
            )
        return [PSCredential(to_str(args[0]), args[1])]
    if low in (
        "psobject",
        "pscustomobject",
        "system.management.automation.psobject",
        "object",
        "system.object",
    ):
        prop = ctx.get("Property")
        return [PSObject(prop.copy() if isinstance(prop, CIDict) else None)]
    if low in ("system.collections.hashtable", "hashtable"):
        return [CIDict()]
    if low in (
        "system.collections.arraylist",
        "collections.arraylist",
        "system.collections.generic.list[string]",
        "system.collections.generic.list[object]",
    ):
        return [[]]
    if low in ("system.text.stringbuilder", "text.stringbuilder"):
        return [""]
    if low in xmldom.TYPE_NAMES:
        return [xmldom.new(ctx.session)]
    raise ctx.error(
        f"Cannot find type [{tn}]: verify that the assembly containing this type is loaded.",
        "TypeNotFound,Microsoft.PowerShell.Commands.NewObjectCommand",
        "InvalidType",
        "System.Management.Automation.PSArgumentException",
    )


EXECUTION_POLICIES = (
    "Unrestricted",
    "RemoteSigned",
    "AllSigned",
    "Restricted",
    "Default",
    "Bypass",
    "Undefined",
)


def _enum_value(ctx: Ctx, param: str, type_name: str, names: tuple[str, ...]) -> str:
    """The parameter's value as one of the enum's names (any case), else the binding error
    PowerShell gives a value it cannot convert to the parameter's enum type."""
    text = to_str(ctx.get(param))
    for name in names:
        if name.lower() == text.lower():
            return name
    raise ctx.error(
        f"Cannot bind parameter '{param}'. Cannot convert value \"{text}\" to type "
        f'"{type_name}". Error: "Unable to match the identifier name {text} to a valid '
        "enumerator name. Specify one of the following enumerator names and try again:\r\n"
        f'{", ".join(names)}"',
        f"CannotConvertArgumentNoMessage,{ctx.cmdlet.name}",
        "InvalidArgument",
        "System.Management.Automation.ParameterBindingException",
    )


@cmdlet("Get-ExecutionPolicy", [Param("Scope", position=0), Param("List", switch=True)])
def get_execution_policy(ctx: Ctx) -> list[Any]:
    """As Windows answers: the effective policy; ``-Scope`` that scope's; ``-List`` one object
    per scope (Scope, ExecutionPolicy) in precedence order, MachinePolicy first
    (https://learn.microsoft.com/powershell/module/microsoft.powershell.security/get-executionpolicy)."""
    policies = ctx.host.execution_policies
    if ctx.has("Scope"):
        _enum_value(
            ctx, "Scope", "Microsoft.PowerShell.ExecutionPolicyScope", EXECUTION_POLICY_SCOPES
        )
    if ctx.switch("List"):
        return [
            PSObject({"Scope": scope, "ExecutionPolicy": policies.get(scope, "Undefined")})
            for scope in EXECUTION_POLICY_SCOPES
        ]
    if ctx.has("Scope"):
        wanted = to_str(ctx.get("Scope")).lower()
        for scope in EXECUTION_POLICY_SCOPES:
            if scope.lower() == wanted:
                return [policies.get(scope, "Undefined")]
    return [ctx.host.execution_policy]


@cmdlet(
    "Set-ExecutionPolicy",
    [Param("ExecutionPolicy", position=0), Param("Scope"), Param("Force", switch=True)],
)
def set_execution_policy(ctx: Ctx) -> list[Any]:
    """Sets a local scope; a Group Policy scope cannot be set, and a Group Policy that wins
    over the new value is reported as Windows does (the value is still written)."""
    policy = _enum_value(
        ctx, "ExecutionPolicy", "Microsoft.PowerShell.ExecutionPolicy", EXECUTION_POLICIES
    )
    wanted = to_str(ctx.get("Scope", "LocalMachine")) or "LocalMachine"
    scope = (
        _enum_value(
            ctx, "Scope", "Microsoft.PowerShell.ExecutionPolicyScope", EXECUTION_POLICY_SCOPES
        )
        if ctx.has("Scope")
        else "LocalMachine"
    )
    if scope in ("MachinePolicy", "UserPolicy"):
        raise ctx.error(
            f"Cannot set execution policy for scope {wanted}: it is set by Group Policy.",
            "CantSetGroupPolicy,Microsoft.PowerShell.Commands.SetExecutionPolicyCommand",
            "InvalidOperation",
            "System.InvalidOperationException",
        )
    ctx.host.execution_policies[scope] = policy
    if ctx.host.execution_policy.lower() != policy.lower() and policy.lower() != "undefined":
        raise ctx.error(
            "Windows PowerShell updated your execution policy successfully, but the setting is "
            "overridden by a policy defined at a more specific scope.",
            "ExecutionPolicyOverride,Microsoft.PowerShell.Commands.SetExecutionPolicyCommand",
            "PermissionDenied",
            "System.Security.SecurityException",
        )
    return []


@cmdlet("Get-Command", [Param("Name", position=0), Param("Module"), Param("CommandType")])
def get_command(ctx: Ctx) -> list[Any]:
    out: list[Any] = []
    for name in as_list(ctx.get("Name")):
        n = to_str(name)
        spec = REGISTRY.get(ALIASES.get(n.lower(), n).lower())
        if spec is not None and available(ctx.session, spec):
            out.append(
                PSObject(
                    {
                        "Name": spec.name,
                        "CommandType": "Cmdlet",
                        "Source": spec.module or "Microsoft.PowerShell.Core",
                    }
                )
            )
        elif n.lower() in ctx.session.functions:
            out.append(PSObject({"Name": n, "CommandType": "Function", "Source": ""}))
        else:
            rec = not_recognized(n).record
            raise ctx.non_terminating(
                rec.message,
                "CommandNotFoundException,Microsoft.PowerShell.Commands.GetCommandCommand",
                "ObjectNotFound",
                rec.exception_type,
                n,
            )
    return out
