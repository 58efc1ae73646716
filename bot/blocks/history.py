"""The history part of `/cloudsync status ID`: the audit trail as a reader follows it.

A run writes a ``step_started`` and a ``step_finished`` event per step; shown raw they drown the
decisions (who asked, approved, cancelled) and say neither host nor step. Here a finished step is
one line, "SYNC01 install: done (5.0 s)", its start folded into it; a step still running keeps
its start line. Every decision event is kept; of the step lines only the newest are, so the
answer stays within Slack's text limits whatever the run's length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.blocks.kit import duration, esc, first_line, utc
from bot.blocks.words import fact

STEP_EVENTS = frozenset({"step_started", "step_finished"})


@dataclass
class _Line:
    text: str
    step: bool  # a step line (may be left out), not a decision (always shown)


def _seconds(at: Any) -> float | None:
    """An event's time as epoch seconds: the stream's number, or the ISO text of ``to_dict``."""
    if isinstance(at, int | float):
        return float(at)
    if isinstance(at, str):
        try:
            return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _data(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data = event.get("data")
    return data if isinstance(data, Mapping) else {}


def _when(at: Any) -> str:
    return utc(float(at)) if isinstance(at, int | float) else esc(at or "")


def decision_line(event: Any) -> str:
    """One non-step event: when, what, by whom, and its detail (a deny's reason)."""
    if not isinstance(event, Mapping):
        return f"• {esc(event)}"
    what = fact(event, "event", "type", "action", "kind") or "event"
    who = fact(event, "user", "actor", "by")
    detail = fact(event, "detail", "note", "reason", "message")
    line = f"• {_when(fact(event, 'at', 'ts', 'time'))} {esc(what)}"
    if who:
        line += f" by <@{esc(who)}>"
    if detail:
        line += f": {esc(first_line(str(detail), 200))}"
    return line


def _step_line(event: Mapping[str, Any], started_at: float | None) -> str:
    data = _data(event)
    at = fact(event, "at", "ts", "time")
    status = str(data.get("status") or "?")
    line = f"• {_when(at)} {esc(data.get('host') or '?')} {esc(data.get('step') or '?')}: "
    line += esc(status)
    finished_at = _seconds(at)
    if event.get("event") == "step_finished" and started_at is not None and finished_at:
        line += f" ({duration(finished_at - started_at)})"
    return line


def _lines(events: Sequence[Any]) -> list[_Line]:
    lines: list[_Line] = []
    running: dict[tuple[str, str], tuple[int, float | None]] = {}  # step -> its start line
    for event in events:
        name = event.get("event") if isinstance(event, Mapping) else None
        if name not in STEP_EVENTS:
            lines.append(_Line(decision_line(event), step=False))
            continue
        data = _data(event)
        key = (str(data.get("host")), str(data.get("step")))
        if name == "step_started":
            running[key] = (len(lines), _seconds(fact(event, "at", "ts", "time")))
            lines.append(_Line(_step_line(event, None), step=True))
            continue
        start = running.pop(key, None)
        if start is not None:
            lines[start[0]].text = ""  # folded into the finished line
        lines.append(_Line(_step_line(event, start[1] if start else None), step=True))
    return [line for line in lines if line.text]


def history_lines(events: Sequence[Any], *, max_steps: int = 15) -> list[str]:
    """The trail in order: every decision line, the newest ``max_steps`` step lines, and a
    line saying how many older step lines were left out."""
    lines = _lines(events)
    steps = [i for i, line in enumerate(lines) if line.step]
    dropped = set(steps[: max(0, len(steps) - max_steps)])
    shown = [line.text for i, line in enumerate(lines) if i not in dropped]
    if dropped:
        shown.insert(0, f"… {len(dropped)} earlier step lines not shown")
    return shown
