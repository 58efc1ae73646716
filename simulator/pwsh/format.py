"""Default output formatting (roughly Out-Default): what pipeline output looks like on stdout."""

from __future__ import annotations

from typing import Any

from . import members
from .values import CIDict, PSObject, to_str


def format_objects(objs: list[Any]) -> str:
    """Render output objects as console text, lines ending in CRLF."""
    lines: list[str] = []
    for obj in objs:
        lines.extend(format_one(obj))
    return "".join(line + "\r\n" for line in lines)


def format_one(obj: Any) -> list[str]:
    if obj is None:
        return []
    if isinstance(obj, CIDict):
        if not len(obj):
            return []
        width = max(4, *(len(to_str(k)) for k in obj))
        out = ["", f"{'Name'.ljust(width)} Value", f"{'----'.ljust(width)} -----"]
        out += [f"{to_str(k).ljust(width)} {_short(v)}" for k, v in obj.items()]
        return [*out, ""]
    bag = None
    if isinstance(obj, (PSObject, members.LiveObject)):
        bag = members.props_of(obj)
    if bag is not None:
        if not len(bag):
            return []
        width = max(len(to_str(k)) for k in bag)
        return ["", *[f"{to_str(k).ljust(width)} : {_short(v)}" for k, v in bag.items()], ""]
    return to_str(obj).split("\n") if "\n" in to_str(obj) else [to_str(obj)]


def _short(v: Any) -> str:
    if isinstance(v, list):
        return "{" + ", ".join(to_str(x) for x in v) + "}"
    return to_str(v)
