"""The App Home tab: requests waiting for this user's approval, and their own."""

from __future__ import annotations

from collections.abc import Sequence

from bot.blocks.cards import approve_button
from bot.blocks.kit import (
    MAX_HOME_BLOCKS,
    MAX_SECTION,
    SLASH,
    JsonDict,
    button,
    context,
    divider,
    esc,
    header,
    section,
)
from bot.blocks.words import blocked_hosts, change_summary, hosts_text, request_line
from workers.domain.model import (
    Request,
)


def _home_request(request: Request) -> list[JsonDict]:
    text = request_line(request)
    blocked = blocked_hosts(request.preflight)
    if blocked:
        text += f"\n⛔ Approval blocked by preflight on {hosts_text(blocked)}"
    buttons: list[JsonDict] = []
    if not blocked:
        buttons.append(approve_button(request.id, f"{esc(change_summary(request.change))}."))
    buttons.append(button("Deny", "deny", request.id, style="danger"))
    return [
        section(text),
        {"type": "actions", "block_id": f"home:{request.id}", "elements": buttons},
    ]


def home_view(pending_for_me: Sequence[Request], mine: Sequence[Request]) -> JsonDict:
    """The App Home tab: requests waiting for this approver (with buttons), then one's own."""
    blocks: list[JsonDict] = [header("Waiting for your approval")]
    if not pending_for_me:
        blocks.append(context("Nothing is waiting for you."))
    budget = MAX_HOME_BLOCKS - 8  # header, divider, own list and the cut note
    for request in pending_for_me:
        if len(blocks) + 2 > budget:
            blocks.append(context(f"More waiting: `{SLASH} list --pending` lists them all."))
            break
        blocks.extend(_home_request(request))
    blocks += [divider(), header("Your recent requests")]
    if mine:
        lines = [request_line(r) for r in mine[:20]]
        chunk: list[str] = []
        for line in lines:
            if sum(len(c) + 1 for c in chunk) + len(line) > MAX_SECTION - 100:
                blocks.append(section("\n".join(chunk)))
                chunk = []
            chunk.append(line)
        if chunk:
            blocks.append(section("\n".join(chunk)))
    else:
        blocks.append(context(f"No requests yet. `{SLASH} help` shows how to start one."))
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}
