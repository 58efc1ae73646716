"""Reading tree-sitter nodes and the text of literal tokens (numbers, quoted strings).

Shared by the evaluator and the command runner (which binds arguments from the same nodes).
"""

from __future__ import annotations

import re

from tree_sitter import Node

from .values import ps_error

BACKTICK = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "e": "\x1b",
}
SQUOTES = "'\u2018\u2019\u201a\u201b"
_NUM = re.compile(r"^(0x[0-9a-f]+|[0-9.]+(?:e[+-]?\d+)?)(l|d)?(kb|mb|gb|tb|pb)?$", re.IGNORECASE)
_MULT = {"kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}


def named(node: Node) -> list[Node]:
    return [c for c in node.children if c.is_named]


def text(node: Node) -> str:
    return (node.text or b"").decode("utf-8")


def verbatim(raw: str) -> str:
    """The value of a single-quoted literal: any two quote chars in a row make one."""
    body = raw[1:-1]
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c in SQUOTES and i + 1 < len(body) and body[i + 1] in SQUOTES:
            out.append(body[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def unescape_dq(s: str, here: bool = False) -> str:
    """Backtick escapes (and "" in a double-quoted string)."""
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "`" and i + 1 < len(s):
            n = s[i + 1]
            out.append(BACKTICK.get(n, n))
            i += 2
            continue
        if (
            not here
            and c in '"\u201c\u201d\u201e'
            and i + 1 < len(s)
            and s[i + 1] in '"\u201c\u201d\u201e'
        ):
            out.append(s[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_number(raw: str) -> int | float:
    m = _NUM.match(raw)
    if not m:
        raise ps_error(f"Bad numeric constant: {raw}.", "BadNumericConstant", "ParserError")
    core, _suffix, mult = m.groups()
    value: int | float
    if core.lower().startswith("0x"):
        value = int(core, 16)
    elif "." in core or "e" in core.lower():
        value = float(core)
    else:
        value = int(core)
    if mult:
        value = value * _MULT[mult.lower()]
    return value
