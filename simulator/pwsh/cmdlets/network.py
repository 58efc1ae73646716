"""Networking: outbound reachability and web downloads as the scenario says; nothing is
contacted."""

from __future__ import annotations

import dataclasses
import ntpath
from typing import Any

from ..commands import Ctx, Param, cmdlet
from ..values import PSObject, to_number, to_str
from .progress import emit_progress

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
    """A download from the scenario's ``web_files``. With the progress preference on, Windows
    PowerShell 5.1 redraws its progress bar for every chunk it reads, which makes large
    downloads orders of magnitude slower (PowerShell issue 2138): the modelled time is
    ``download_s`` times ``progress_slowdown``, and each chunk is a progress record."""
    host = ctx.host
    uri = to_str(ctx.get("Uri"))
    source = host.web_files.get(uri.lower())
    entry = host.file(source) if source else None
    if not host.outbound_443 or entry is None or entry.is_dir:
        message = (
            "The remote server returned an error: (404) Not Found."
            if host.outbound_443
            else "Unable to connect to the remote server"
        )
        raise ctx.error(
            message,
            "WebCmdletWebResponseException,Microsoft.PowerShell.Commands.InvokeWebRequestCommand",
            "InvalidOperation",
            "System.Net.WebException",
            uri,
        )
    seconds = host.download_s
    size = len(entry.content)
    for i in range(1, PROGRESS_CHUNKS + 1):
        shown = emit_progress(
            ctx,
            "Web request status",
            f"Number of bytes read: {size * i // PROGRESS_CHUNKS}",
        )
        if not shown:
            break
    if emit_progress(ctx, "Web request status", "Completed", completed=True):
        seconds *= host.progress_slowdown
    ctx.session.runner.add_modelled(seconds)
    out = ctx.get("OutFile")
    if out is not None:
        path = to_str(out)
        parent = ntpath.dirname(path)
        if parent and host.file(parent) is None:
            raise ctx.error(
                f"Could not find a part of the path '{path}'.",
                "System.IO.DirectoryNotFoundException,Microsoft.PowerShell.Commands.InvokeWebRequestCommand",
                "NotSpecified",
                "System.IO.DirectoryNotFoundException",
            )
        host.put_file(dataclasses.replace(entry, path=path))
        return []
    return [
        PSObject(
            {
                "StatusCode": 200,
                "StatusDescription": "OK",
                "Content": entry.content,
                "RawContentLength": size,
                "Headers": {"Content-Length": str(size)},
            },
            type_name="Microsoft.PowerShell.Commands.WebResponseObject",
        )
    ]
