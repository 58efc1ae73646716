"""Networking: outbound reachability and downloads as the scenario says; nothing is contacted."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ...host import FileEntry
from ..commands import Ctx, Param, cmdlet
from ..values import PSObject, to_number, to_str
from .providers import reach

DOTNET_KEY = "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319"


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


def _web_error(ctx: Ctx, message: str) -> Exception:
    return ctx.error(
        message,
        "WebCmdletWebResponseException,Microsoft.PowerShell.Commands.InvokeWebRequestCommand",
        "InvalidOperation",
        "System.Net.WebException",
    )


@cmdlet(
    "Invoke-WebRequest",
    [
        Param("Uri", position=0),
        Param("OutFile"),
        Param("UseBasicParsing", switch=True),
        Param("UseDefaultCredentials", switch=True),
        Param("Method"),
        Param("TimeoutSec"),
    ],
)
def invoke_web_request(ctx: Ctx) -> list[Any]:
    """A download from the scenario's ``downloads``: Windows PowerShell 5.1 negotiates TLS 1.2
    only when the session forces it (ServicePointManager) or .NET's SchUseStrongCrypto is set;
    a server asking for Windows authentication gets nothing the network logon could forward."""
    uri = to_str(ctx.get("Uri"))
    parsed = urlsplit(uri)
    if not ctx.host.outbound_443:
        raise _web_error(ctx, "Unable to connect to the remote server")
    if (parsed.hostname or "").lower() in ctx.host.windows_auth_hosts:
        raise _web_error(ctx, "The remote server returned an error: (401) Unauthorized.")
    strong = (ctx.host.get_reg(DOTNET_KEY) or {}).get("SchUseStrongCrypto") == 1
    if (
        parsed.scheme == "https"
        and "tls12" not in ctx.session.security_protocol.lower()
        and not strong
    ):
        raise _web_error(ctx, "The request was aborted: Could not create SSL/TLS secure channel.")
    content = ctx.host.downloads.get(uri.lower())
    if content is None:
        raise _web_error(ctx, "The remote server returned an error: (404) Not Found.")
    if not ctx.has("OutFile"):
        return [PSObject({"StatusCode": 200, "RawContentLength": len(content)})]
    out = reach(ctx, to_str(ctx.get("OutFile")), "InvokeWebRequestCommand")
    signer, version = ctx.host.signature_of(content)
    ctx.host.put_file(FileEntry(out, content, version=version, signer=signer))
    return []
