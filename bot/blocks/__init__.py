"""Block Kit builders: pure functions of domain objects -> (fallback text, blocks) or views.

Nothing here talks to Slack. ``kit`` holds Slack's limits, escaping and the primitive blocks;
``words`` how changes, facts and results read; ``cards`` the channel messages; ``answers`` the
text answers for one user; ``home`` the App Home tab. The fallback ``text`` of each message is
readable on its own: Slack shows it in notifications, and the local console prints it above a
simple rendering of the blocks.
"""

from bot.blocks.answers import agents_text, check_text, list_text, plan_text, status_text
from bot.blocks.cards import (
    approval_card,
    decided_card,
    deny_modal,
    progress_card,
    resubmitted_text,
    step_reply,
    summary,
)
from bot.blocks.fleet import host_finished_reply
from bot.blocks.home import home_view
from bot.blocks.words import facts_line

__all__ = [
    "agents_text",
    "approval_card",
    "check_text",
    "decided_card",
    "deny_modal",
    "facts_line",
    "home_view",
    "host_finished_reply",
    "list_text",
    "plan_text",
    "progress_card",
    "resubmitted_text",
    "status_text",
    "step_reply",
    "summary",
]
