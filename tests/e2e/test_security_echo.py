"""Nothing a user controls comes back as live mrkdwn (issue 13, attack 6): mentions, links and
formatting sent through every echo path (button values, view metadata, slash command tokens,
the deny reason) reach Slack escaped, or not at all, on the real stack; every Slack call the
loopback server recorded is searched."""

from __future__ import annotations

import json
import time

from bot.local import payloads
from tests.e2e.harness import USERS, E2EStack
from tests.e2e.slack_helpers import ack_text, mark, reply_to, wait_card
from workers.domain.model import State

LIVE = ["<!channel>", "<@U123>", "<http://x|y>"]
EVIL = "<!channel> <@U123> <http://x|y> *b* `c` &amp;"


def _slack_text_since(e2e: E2EStack, after: int) -> str:
    return "\n".join(json.dumps(c.args, ensure_ascii=False) for c in list(e2e.slack.calls)[after:])


def _assert_no_live_markup(text: str) -> None:
    for sequence in LIVE:
        assert sequence not in text, f"{sequence} reached Slack unescaped"


def test_button_values_are_never_echoed_as_mrkdwn(e2e: E2EStack) -> None:
    calls = len(e2e.slack.calls)
    for action in ("approve", "deny", "cancel"):
        seen = mark(e2e, "bob")
        body = payloads.button_click(
            user_id=USERS["bob"],
            user_name="bob",
            channel_id="C01OPS",
            channel_name="ops",
            action_id=action,
            value=EVIL,
            response_url=e2e.slack.response_url(f"{USERS['bob']}-{time.time()}"),
        )
        assert e2e.post(body).status_code == 200
        answer = reply_to(e2e, "bob", "No such request", after=seen)
        assert "*b*" not in answer and "`c`" not in answer and "&amp;amp;" not in answer
    _assert_no_live_markup(_slack_text_since(e2e, calls))


def test_view_metadata_is_never_echoed(e2e: E2EStack) -> None:
    calls = len(e2e.slack.calls)
    body = payloads.view_submission(
        user_id=USERS["bob"],
        user_name="bob",
        callback_id="deny_reason",
        private_metadata=EVIL,
        values={"reason": {"reason": {"type": "plain_text_input", "value": "no"}}},
    )
    assert e2e.post(body).status_code == 200
    time.sleep(0.5)
    e2e.wait_quiet()
    text = _slack_text_since(e2e, calls)
    _assert_no_live_markup(text)
    assert "*b*" not in text


def test_typed_tokens_come_back_escaped(e2e: E2EStack) -> None:
    for template in ("install {} --domain contoso.com", "status {}", "check {}", "help {}", "{}"):
        for sequence in [*LIVE, "`$(whoami)`"]:
            response = e2e.slash("alice", template.format(sequence))
            assert response.status_code == 200
            answer = ack_text(response)
            assert answer.strip(), template
            assert sequence not in answer, (template, sequence, answer)


def test_a_deny_reason_reaches_the_card_escaped(e2e: E2EStack) -> None:
    request = e2e.submit("alice", "install SYNC01 --domain contoso.com")
    calls = len(e2e.slack.calls)
    assert e2e.submit_deny("bob", request.id, EVIL).status_code == 200
    e2e.wait_state(request.id, State.DENIED)
    card = wait_card(e2e, request.id, "Denied")
    assert "&lt;!channel&gt;" in json.dumps(card.blocks)
    e2e.wait_quiet()
    _assert_no_live_markup(_slack_text_since(e2e, calls))
