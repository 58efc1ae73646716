"""Networking: outbound reachability and web downloads as the scenario says; nothing is
contacted."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ...host import FileEntry
from ..commands import Ctx, Param, cmdlet
from ..values import PSObject, to_number, to_str
from .progress import emit_progress
from .providers import reach

DOTNET_KEY = "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319"
PROGRESS_CHUNKS = 8  # records written for one download while its progress bar is on


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


def _content(ctx: Ctx, uri: str) -> bytes | None:
    """What the URL serves: the scenario's ``downloads`` (url -> bytes), else ``web_files``
    (url -> a file on the simulated disk)."""
    content = ctx.host.downloads.get(uri.lower())
    if content is not None:
        return content
    source = ctx.host.web_files.get(uri.lower())
    entry = ctx.host.file(source) if source else None
    return None if entry is None or entry.is_dir else entry.content


@cmdlet(
    "Invoke-WebRequest",
    [
        Param("Uri", position=0),
        Param("OutFile"),
        Param("UseBasicParsing", switch=True),
        Param("Method"),
        Param("Headers"),
        Param("TimeoutSec"),
        Param("Proxy"),
        Param("UseDefaultCredentials", switch=True),
        Param("Credential"),
    ],
)
def invoke_web_request(ctx: Ctx) -> list[Any]:
    """A download as Windows PowerShell 5.1 makes it:

    - TLS 1.2 is negotiated only when the session forces it (ServicePointManager) or .NET's
      SchUseStrongCrypto is set;
    - a server asking for Windows authentication gets nothing a network logon could forward
      (the second hop: 401);
    - with the progress preference on, the progress bar is redrawn for every chunk read, which
      makes large downloads orders of magnitude slower (PowerShell issue 2138): the modelled
      time is ``download_s`` times ``progress_slowdown``, and each chunk is a progress record.
    """
    host = ctx.host
    uri = to_str(ctx.get("Uri"))
    parsed = urlsplit(uri)
    if not host.outbound_443:
        raise _web_error(ctx, "Unable to connect to the remote server")
    if (parsed.hostname or "").lower() in host.windows_auth_hosts:
        raise _web_error(ctx, "The remote server returned an error: (401) Unauthorized.")
    strong = (host.get_reg(DOTNET_KEY) or {}).get("SchUseStrongCrypto") == 1
    if (
        parsed.scheme == "https"
        and "tls12" not in ctx.session.security_protocol.lower()
        and not strong
    ):
        raise _web_error(ctx, "The request was aborted: Could not create SSL/TLS secure channel.")
    content = _content(ctx, uri)
    if content is None:
        raise _web_error(ctx, "The remote server returned an error: (404) Not Found.")
    seconds = host.download_s
    size = len(content)
    for i in range(1, PROGRESS_CHUNKS + 1):
        if not emit_progress(
            ctx, "Web request status", f"Number of bytes read: {size * i // PROGRESS_CHUNKS}"
        ):
            break
    if emit_progress(ctx, "Web request status", "Completed", completed=True):
        seconds *= host.progress_slowdown
    ctx.session.runner.add_modelled(seconds)
    if not ctx.has("OutFile"):
        return [
            PSObject(
                {
                    "StatusCode": 200,
                    "StatusDescription": "OK",
                    "Content": content,
                    "RawContentLength": size,
                    "Headers": {"Content-Length": str(size)},
                },
                type_name="Microsoft.PowerShell.Commands.WebResponseObject",
            )
        ]
    out = reach(ctx, to_str(ctx.get("OutFile")), "InvokeWebRequestCommand")
    host.put_file(FileEntry(out, content, **host.signature_of(content)))
    return []
