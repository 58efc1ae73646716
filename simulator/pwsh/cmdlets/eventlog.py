"""Get-WinEvent over the host's modelled event channels (-LogName or -FilterHashtable).

As on Windows (https://learn.microsoft.com/powershell/module/microsoft.powershell.diagnostics/
get-winevent): events come newest first unless -Oldest; -MaxEvents caps them; a FilterHashtable
matches LogName, Id and Level (1 Critical, 2 Error, 3 Warning, 4 Information); no match is the
error NoMatchingEventsFound ("No events were found that match the specified selection
criteria."), and a channel the computer does not have is NoMatchingLogsFound. StartTime and
EndTime (DateTime keys of the same FilterHashtable, per the Learn page above) keep the events
created at or after StartTime and at or before EndTime; Windows evaluates them in the query
(an XPath on System/TimeCreated/@SystemTime), before -MaxEvents counts, so a bounded read of a
chatty channel still reaches an older error inside the span.
"""

from __future__ import annotations

import datetime
from typing import Any

from ..commands import Ctx, Param, cmdlet
from ..values import CIDict, PSDate, PSObject, as_list, to_str

LEVEL_NAMES = {1: "Critical", 2: "Error", 3: "Warning", 4: "Information", 5: "Verbose"}
RECORD_TYPE = "System.Diagnostics.Eventing.Reader.EventLogRecord"


def _record(channel: str, event: dict[str, Any]) -> PSObject:
    level = int(event.get("level", 4))
    return PSObject(
        {
            "Id": int(event["id"]),
            "RecordId": int(event.get("record", 0)),
            "Level": level,
            "LevelDisplayName": LEVEL_NAMES.get(level, "Information"),
            "LogName": channel,
            "ProviderName": channel.split("/", 1)[0],
            "TimeCreated": PSDate(event["at"]),
            "Message": str(event.get("message", "")),
        },
        type_name=RECORD_TYPE,
    )


def _time(value: Any) -> datetime.datetime | None:
    """A StartTime/EndTime value: a DateTime, or a string PowerShell converts to one."""
    if value is None:
        return None
    if isinstance(value, PSDate):
        return value.dt
    return datetime.datetime.fromisoformat(to_str(value))


def _numbers(value: Any) -> set[int] | None:
    if value is None:
        return None
    return {int(to_str(v)) for v in as_list(value)}


@cmdlet(
    "Get-WinEvent",
    [
        Param("LogName", position=0),
        Param("FilterHashtable"),
        Param("MaxEvents"),
        Param("Oldest", switch=True),
    ],
)
def get_winevent(ctx: Ctx) -> list[Any]:
    host = ctx.host
    ids: set[int] | None = None
    levels: set[int] | None = None
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    if ctx.has("FilterHashtable") and ctx.has("LogName"):  # two parameter sets
        raise ctx.error(
            "Parameter set cannot be resolved using the specified named parameters.",
            "AmbiguousParameterSet,Microsoft.PowerShell.Commands.GetWinEventCommand",
            "InvalidArgument",
            "System.Management.Automation.ParameterBindingException",
        )
    if ctx.has("MaxEvents") and int(to_str(ctx.get("MaxEvents"))) < 1:  # [ValidateRange(1, ...)]
        raise ctx.error(
            f"Cannot validate argument on parameter 'MaxEvents'. The {to_str(ctx.get('MaxEvents'))}"
            " argument is less than the minimum allowed range of 1. Supply an argument that is "
            "greater than or equal to 1 and then try the command again.",
            "ParameterArgumentValidationError,Microsoft.PowerShell.Commands.GetWinEventCommand",
            "InvalidData",
            "System.Management.Automation.ParameterBindingValidationException",
        )
    if ctx.has("FilterHashtable"):
        table = ctx.get("FilterHashtable")
        table = table if isinstance(table, CIDict) else CIDict(dict(table or {}))
        channels = [to_str(c) for c in as_list(table.get("LogName"))]
        ids, levels = _numbers(table.get("Id")), _numbers(table.get("Level"))
        start, end = _time(table.get("StartTime")), _time(table.get("EndTime"))
    else:
        channels = [to_str(c) for c in as_list(ctx.get("LogName"))]
    found: list[tuple[str, dict[str, Any]]] = []
    for channel in channels:
        if not host.event_channel_exists(channel):
            raise ctx.non_terminating(
                f'There is not an event log on the localhost computer that matches "{channel}".',
                "NoMatchingLogsFound,Microsoft.PowerShell.Commands.GetWinEventCommand",
                "ObjectNotFound",
                "System.Exception",
                channel,
            )
        with host.lock:
            events = list(host.event_logs.get(channel.lower(), []))
        found += [
            (channel, e)
            for e in events
            if (ids is None or int(e["id"]) in ids)
            and (levels is None or int(e.get("level", 4)) in levels)
            and (start is None or e["at"] >= start)
            and (end is None or e["at"] <= end)
        ]
    found.sort(
        key=lambda pair: (pair[1]["at"], int(pair[1].get("record", 0))),
        reverse=not ctx.switch("Oldest"),
    )
    if ctx.has("MaxEvents"):
        found = found[: int(to_str(ctx.get("MaxEvents")))]
    if not found:
        raise ctx.non_terminating(
            "No events were found that match the specified selection criteria.",
            "NoMatchingEventsFound,Microsoft.PowerShell.Commands.GetWinEventCommand",
            "ObjectNotFound",
            "System.Exception",
        )
    return [_record(channel, event) for channel, event in found]
