"""Block Kit as plain text, for the local console and logs of what Slack would show."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_LINK = re.compile(r"<(?:https?://[^|>]+\|)?([^>]+)>")


def unescape(text: str) -> str:
    """Slack mrkdwn to terminal text: dates to their fallback, entities decoded."""
    text = _DATE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def block_texts(node: Any) -> Iterator[str]:
    """Every ``text`` string of a Block Kit structure, as written (mrkdwn), in order."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from block_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from block_texts(item)


def _text(obj: Any) -> str:
    if isinstance(obj, dict):
        return unescape(str(obj.get("text", "")))
    return unescape(str(obj or ""))


def render_blocks(blocks: list[Any] | None) -> str:
    lines: list[str] = []
    for block in blocks or []:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {_text(block.get('text'))} ==")
        elif kind == "section":
            if block.get("text"):
                lines.append(_text(block.get("text")))
            for field in block.get("fields") or []:
                lines.append("  " + _text(field))
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                lines.append(f"  [{_text(accessory.get('text'))}]")
        elif kind == "context":
            lines.append("  " + " ".join(_text(e) for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append("  ────────")
        elif kind == "actions":
            buttons = []
            for element in block.get("elements", []):
                label = _text(element.get("text"))
                buttons.append(
                    f"[{label}]" + (f"({element['action_id']})" if "action_id" in element else "")
                )
            lines.append("  " + "  ".join(buttons))
        elif kind == "rich_text":
            lines.append(str(block))
        elif kind == "input":
            lines.append(f"  <input: {_text(block.get('label'))}>")
    return "\n".join(lines)
