"""Networking: outbound reachability as the scenario says; nothing is contacted."""

from __future__ import annotations

from typing import Any

from ..commands import Ctx, Param, cmdlet
from ..values import PSObject, to_number, to_str


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
