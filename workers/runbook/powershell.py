"""The one place where values become PowerShell text, plus the decoding of what comes back.

Every value that reaches a script goes through :func:`quote` (a single-quoted literal, in which
PowerShell expands nothing). Scripts are templates with ``<<name>>`` slots filled only by
:func:`render`, so no caller ever concatenates a value into PowerShell. Secrets never pass through
here: scripts refer to them as ``$Secrets['name']`` and their values travel as stdin data.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

# PowerShell treats the ASCII apostrophe and these four Unicode marks as single quotes.
SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_QUOTE_RE = re.compile(f"[{SINGLE_QUOTES}]")
_SLOT_RE = re.compile(r"<<([A-Za-z_][A-Za-z0-9_]*)>>")
_CLIXML_ESCAPE_RE = re.compile(r"_x([0-9A-Fa-f]{4})_")
CLIXML_MARK = "#< CLIXML"

SlotValue = str | bool | int | Iterable[str]


class TemplateError(ValueError):
    """A template and its values do not match (a programming error, caught by the unit tests)."""


def quote(value: str) -> str:
    """A PowerShell single-quoted literal whose value is exactly ``value``."""
    if not isinstance(value, str):
        raise TypeError(f"quote() takes str, not {type(value).__name__}")
    if "\x00" in value:
        # No legitimate value holds NUL, and parsers disagree on it (end of input or not).
        raise ValueError("a NUL character cannot be put into a PowerShell script")
    return "'" + _QUOTE_RE.sub(lambda m: m.group(0) * 2, value) + "'"


def quote_array(values: Iterable[str]) -> str:
    """``'a','b'``: an array argument; an empty array is ``@()``."""
    items = [quote(v) for v in values]
    return ",".join(items) if items else "@()"


def _slot(value: SlotValue) -> str:
    # bool before int: bool is an int subclass.
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, list | tuple):
        return quote_array(value)
    raise TypeError(f"cannot render {type(value).__name__} into PowerShell")


def render(template: str, **values: SlotValue) -> str:
    """Fill ``<<name>>`` slots: strings quoted, string lists as arrays, bools as $true/$false.

    Every slot must have a value and every value must be used, so a typo cannot leave a slot
    unfilled or silently drop a value.
    """
    used: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise TemplateError(f"template slot <<{name}>> has no value")
        used.add(name)
        return _slot(values[name])

    text = _SLOT_RE.sub(fill, template)
    unused = set(values) - used
    if unused:
        raise TemplateError(f"values not used by the template: {sorted(unused)}")
    return text


def slots(template: str) -> list[str]:
    """The slot names of a template (for tests and plan rendering)."""
    return _SLOT_RE.findall(template)


def encode_command(script: str) -> str:
    """Base64 of the UTF-16LE script, as ``powershell.exe -EncodedCommand`` expects."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def _unescape(text: str) -> str:
    return _CLIXML_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _clixml_errors(chunk: str) -> list[str]:
    """Error strings of one ``<Objs>`` document; progress and other records are dropped."""
    try:
        # Python's expat (>= 2.4.1) refuses entity expansion attacks and resolves no external
        # entities; the text comes from a host we administer anyway.
        root = ET.fromstring(chunk)  # noqa: S314
    except ET.ParseError:
        return [_unescape(m) for m in re.findall(r'<S S="Error">(.*?)</S>', chunk, flags=re.S)]
    out: list[str] = []
    for node in root.iter():
        if node.tag.rsplit("}", 1)[-1] == "S" and node.get("S") == "Error":
            out.append(_unescape(node.text or ""))
    return out


def parse_clixml(stderr: str) -> list[str]:
    """Readable lines from a stderr that may hold ``#< CLIXML`` error records.

    Windows splits one error record into several ``<S S="Error">`` pieces, each ending in an
    escaped CRLF, so the pieces are joined before splitting into lines. Text outside CLIXML
    (a plain stderr) is kept as it is.
    """
    if CLIXML_MARK not in stderr:
        return [line.rstrip() for line in stderr.splitlines() if line.strip()]
    pieces: list[str] = []
    head, *chunks = stderr.split(CLIXML_MARK)
    if head.strip():
        pieces.append(head)
    for chunk in chunks:
        body = chunk.strip()
        start = body.find("<Objs")
        if start < 0:
            if body:
                pieces.append(body)
            continue
        pieces.append("".join(_clixml_errors(body[start:])))
    text = "".join(pieces)
    return [line.rstrip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
