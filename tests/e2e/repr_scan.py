"""Python reprs in what the bot shows on Slack: a dict or tuple rendered with ``str()`` or an
f-string (``{'host': 'SYNC01'}``, ``[('a', 1)]``) is noise to an operator and a sign that data,
not words, reached a message. Every end-to-end stack's loopback Slack server reports each call
to one watch; the autouse check in ``conftest.py`` fails a test whose payloads carry one."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.render import block_texts

REPR_MARKERS = ("{'", "': '", "[('")
# A code block (bot.blocks.kit.code_block) shows a script or output verbatim: PowerShell such as
# ``$a + ': ' + $b`` is what it is, so code blocks are not scanned (a truncated one ends at "…").
CODE_BLOCK = re.compile(r"```.*?(?:```|…$)", re.DOTALL)
# What the bot says: posts, edits, ephemerals, App Home and modal views, response_url answers
SCANNED_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.scheduleMessage",
        "views.publish",
        "views.open",
        "views.update",
        "views.push",
        "response_url",
    }
)


def _decoded(value: Any) -> Any:
    """A form-encoded call carries ``blocks`` or ``view`` as a JSON string: read it as JSON."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def payload_texts(args: dict[str, Any]) -> Iterator[str]:
    """Every text a payload shows: its ``text`` and each Block Kit text, view titles included."""
    for text in block_texts({key: _decoded(value) for key, value in args.items()}):
        yield CODE_BLOCK.sub("```…```", text)


def repr_findings(method: str, args: dict[str, Any]) -> list[str]:
    if method not in SCANNED_METHODS:
        return []
    return [
        f"{method}: {marker!r} in ...{_around(text, text.index(marker))!r}..."
        for text in payload_texts(args)
        for marker in REPR_MARKERS
        if marker in text
    ]


def _around(text: str, at: int, width: int = 150) -> str:
    return text[max(0, at - width) : at + width]


class ReprWatch:
    """A LoopbackSlack subscriber that keeps every finding, in order."""

    def __init__(self) -> None:
        self.findings: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, call: Any, message: Any = None) -> None:
        found = repr_findings(call.method, call.args)
        if found:
            with self._lock:
                self.findings.extend(found)

    def watch(self, slack: Any) -> None:
        slack.subscribe(self)

    def since(self, start: int) -> list[str]:
        with self._lock:
            return list(self.findings[start:])


WATCH = ReprWatch()  # one for the session: every E2EStack subscribes it


class RecordFileScan:
    """The calls of loopback servers in child processes (a console, a bot started as a
    process): each appends its calls to the file ``LOOPBACK_SLACK_RECORD`` names, read here
    from where the last scan stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def new_findings(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        whole = data[: data.rfind(b"\n") + 1]  # a line still being written waits for next time
        self._offset += len(whole)
        found: list[str] = []
        for line in whole.splitlines():
            call = json.loads(line)
            found += repr_findings(call["method"], call["args"])
        return found
