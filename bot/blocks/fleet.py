"""How a request on many hosts reads: one compact line per host, packed into as few sections as
Slack allows, so a card for 100 or 300 hosts stays one message (50 blocks, 3,000 characters per
section text) that is edited in place instead of a thread reply per step per host."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.blocks.kit import (
    MAX_SECTION,
    SLASH,
    STATUS_EMOJI,
    JsonDict,
    PlanSteps,
    clip,
    context,
    duration,
    esc,
    first_line,
    section,
)
from bot.blocks.words import (
    host_outcome,
    hosts_text,
    merged_steps,
    plan_lines,
    preflight_blocked,
    preflight_lines,
)
from workers.domain.model import StepResult, StepStatus

FEW_HOSTS = 3  # up to this many hosts a card details each host; more get the compact grid
HOST_BLOCKS = 40  # of a card's 50 blocks, at most this many carry host lines
LINE_ROOM = MAX_SECTION - 100  # a section's text, with room for the "and N more" line

_ORDER = {"❌": 0, "🚫": 1, "⏳": 2, "⬜": 3, "✅": 4}


def packed_sections(lines: Sequence[str], max_blocks: int, what: str = "hosts") -> list[JsonDict]:
    """``lines`` in sections of at most LINE_ROOM characters, at most ``max_blocks`` of them; the
    last one ends with "and N more <what>" when they do not all fit."""
    blocks: list[JsonDict] = []
    current: list[str] = []
    size = 0
    shown = 0
    for line in lines:
        line = clip(line, LINE_ROOM)
        if current and size + len(line) + 1 > LINE_ROOM:
            if len(blocks) + 1 >= max_blocks:
                break
            blocks.append(section("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
        shown += 1
    rest = len(lines) - shown
    if rest:
        current.append(f"… and {rest} more {what}; `{SLASH} status` lists them all.")
    if current:
        blocks.append(section("\n".join(current)))
    return blocks


def host_state(steps: Sequence[StepResult]) -> tuple[str, str]:
    """(symbol, words) of one host in the grid: its outcome, or the step it is on."""
    emoji, words = host_outcome(steps)
    if emoji != "⏳":
        return emoji, words
    running = next((s for s in steps if s.status is StepStatus.RUNNING), None)
    finished = sum(1 for s in steps if s.status in (StepStatus.DONE, StepStatus.SKIPPED))
    if running is not None:
        return "⏳", f"{finished}/{len(steps)} · {running.step_id}"
    if finished == 0:
        return "⬜", "waiting"
    return "⏳", f"{finished}/{len(steps)} steps"


def grid_lines(
    hosts: Sequence[str],
    results: Mapping[str, Sequence[StepResult]],
    plan_steps: PlanSteps,
) -> tuple[list[str], dict[str, int]]:
    """One line per host (failures first, then running, waiting, done) and the tally."""
    rows: list[tuple[int, int, str]] = []
    tally: dict[str, int] = {}
    for index, host in enumerate(hosts):
        steps = merged_steps(plan_steps.get(host) or (), results.get(host) or (), host)
        emoji, words = host_state(steps)
        tally[emoji] = tally.get(emoji, 0) + 1
        line = f"{emoji} *{esc(host)}* {esc(words)}"
        failed = next((s for s in steps if s.status is StepStatus.FAILED), None)
        if failed is not None:
            line += f" — {esc(first_line(failed.error or failed.summary, 100))}"
        rows.append((_ORDER.get(emoji, 2), index, line))
    rows.sort()
    return [line for _rank, _index, line in rows], tally


TALLY_WORDS = (
    ("✅", "done"),
    ("⏳", "running"),
    ("⬜", "waiting"),
    ("❌", "failed"),
    ("🚫", "cancelled"),
)


def tally_text(tally: Mapping[str, int], total: int) -> str:
    parts = [f"{emoji} {tally[emoji]} {words}" for emoji, words in TALLY_WORDS if tally.get(emoji)]
    return f"*{total} hosts:* " + " · ".join(parts)


def grid_blocks(
    hosts: Sequence[str],
    results: Mapping[str, Sequence[StepResult]],
    plan_steps: PlanSteps,
    max_blocks: int = HOST_BLOCKS,
) -> tuple[list[JsonDict], str]:
    """The live status of a multi-host request: the tally, then a line per host. Returns the
    blocks and the tally text (for the fallback)."""
    lines, tally = grid_lines(hosts, results, plan_steps)
    head = tally_text(tally, len(hosts))
    return [section(head), *packed_sections(lines, max_blocks - 1)], head


def fleet_plan_blocks(
    hosts: Sequence[str], plan_steps: PlanSteps, preflight: Mapping[str, Any]
) -> list[JsonDict]:
    """The approval card's body for many hosts: every host named, each distinct plan once with
    the hosts it runs on, and preflight details only for the hosts that have something to say
    (a blocker, a warning, not run yet); the others are counted."""
    shown = len(hosts)
    while shown > 1 and len(hosts_text(hosts, shown)) > LINE_ROOM:
        shown = shown * 3 // 4
    body = [section(f"*Hosts ({len(hosts)}):* {hosts_text(hosts, shown)}")]
    plans: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for host in hosts:
        plans.setdefault(tuple(plan_steps.get(host) or ()), []).append(host)
    for steps, on in plans.items():
        if not steps:
            continue
        where = "all hosts" if len(on) == len(hosts) else hosts_text(on, 10)
        head = f"*Plan on {where} ({len(steps)} steps):*"
        body.append(section("\n".join([head, *plan_lines(steps)])))
    quiet = 0
    noted: list[str] = []
    for host in hosts:
        pre = preflight.get(host)
        lines = preflight_lines(pre)
        if len(lines) <= 2 and lines[0].startswith("✅") and not preflight_blocked(pre):
            quiet += 1  # passed, nothing beyond the facts line
            continue
        noted.append("\n".join([f"*{esc(host)}*", *lines]))
    if quiet:
        body.append(context(f"✅ Preflight passed on {quiet} of {len(hosts)} hosts."))
    body.extend(packed_sections(noted, 12, "hosts with preflight notes"))
    return body


def host_finished_reply(
    host: str, steps: Sequence[StepResult], *, request_id: str
) -> tuple[str, list[JsonDict]]:
    """The one thread reply of a host of a multi-host request when its steps are all done."""
    emoji, words = host_outcome(steps)
    total = sum(s.duration_s or 0.0 for s in steps)
    took = f" ({duration(total)})" if total else ""
    marks = "".join(STATUS_EMOJI.get(s.status, "•") for s in steps)
    text = f"{emoji} {host} · {request_id}: {words}{took}"
    return esc(text), [section(f"{emoji} *{esc(host)}* — {esc(words)}{took}  {marks}")]
