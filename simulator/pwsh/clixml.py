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
