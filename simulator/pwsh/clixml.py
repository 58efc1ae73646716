"""CLIXML for stderr, as powershell.exe writes it when its error stream is redirected."""

from __future__ import annotations

import re

HEADER = "#< CLIXML\r\n"
OPEN = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
CLOSE = "</Objs>"

_NEEDS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\r\n\t]|_(?=x[0-9A-Fa-f]{4}_)")


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group(0)
    return f"_x{ord(ch):04X}_"


def encode_text(text: str) -> str:
    """XML-escape, then write control chars (CR, LF, ...) as _xHHHH_ like the serializer."""
    s = _NEEDS.sub(_escape_char, text)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def string_record(stream: str, text: str) -> str:
    """One <S S="Error">...</S> element (a line, including its CRLF)."""
    return f'<S S="{stream}">{encode_text(text)}</S>'


def lines_as_records(stream: str, text: str) -> str:
    """A multi-line message split the way PowerShell writes it: one element per line."""
    parts = text.split("\r\n")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    return "".join(string_record(stream, p + "\r\n") for p in parts)


def progress_record(
    ref_id: int,
    activity: str,
    status: str,
    percent: int = -1,
    completed: bool = False,
    activity_id: int = 0,
    seconds_remaining: int = -1,
    current_operation: str | None = None,
) -> str:
    """One ``<Obj S="progress">`` element as Windows PowerShell 5.1's ConsoleHost writes a
    ProgressRecord to redirected stderr (the ``PR`` element: activity, activity id, current
    operation, parent id, percent, record type, seconds remaining, status). The first object of
    a stream carries its type names (``TN``); later ones refer to them (``TNRef``)."""
    names = (
        '<TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN>'
        if ref_id == 0
        else '<TNRef RefId="0" />'
    )
    operation = (
        "<Nil />" if current_operation is None else f"<S>{encode_text(current_operation)}</S>"
    )
    return (
        f'<Obj S="progress" RefId="{ref_id}">{names}<MS><I64 N="SourceId">1</I64>'
        f'<PR N="Record"><AV>{encode_text(activity)}</AV><AI>{activity_id}</AI>{operation}'
        f"<PI>-1</PI><PC>{percent}</PC><T>{'Completed' if completed else 'Processing'}</T>"
        f"<SR>{seconds_remaining}</SR><SD>{encode_text(status)}</SD></PR></MS></Obj>"
    )
