"""One live status per request (issue 15): a 30-host request named by an inventory tag runs
on the real stack; its approval card becomes a host grid edited in place until it reads
succeeded, the thread gets one reply per host (not one per step), and the loopback Slack
server's record shows at most 3 Web API calls per host. Counts only: timings are the bench's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.render import block_texts
from tests.e2e.harness import CHANNEL, E2EStack, make_config_dir
from workers.domain.model import State

FLEET = tuple(f"FLEET{i:02d}" for i in range(30))


def _add_fleet(inventory: dict[str, Any], _policy: dict[str, Any]) -> None:
    for name in FLEET:
        inventory["hosts"][name] = {"simulated": True, "tags": ["fleet"]}


@pytest.fixture(scope="module")
def fleet_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    workdir = tmp_path_factory.mktemp("fleet")
    stack = E2EStack(workdir, make_config_dir(workdir / "config", _add_fleet)).start()
    yield stack
    stack.stop()


def _text_of(blocks: list[dict[str, Any]] | None) -> str:
    return "\n".join(block_texts(blocks or []))


def test_thirty_hosts_one_live_card_and_few_slack_calls(
    fleet_stack: E2EStack, tmp_path: Path
) -> None:
    e2e = fleet_stack
    before = len(e2e.slack.calls)
    request = e2e.submit("alice", "install tag:fleet --domain contoso.com")
    assert request.change.hosts == FLEET  # the tag's hosts, stored by name
    card = e2e.wait_for(
        lambda: next(
            (m for m in e2e.slack.messages(CHANNEL) if request.id in (m.text or "")), None
        ),
        what="approval card",
    )
    approval = _text_of(card.blocks)
    assert "Hosts (30)" in approval and "FLEET29" in approval
    assert "Plan on all hosts" in approval

    assert e2e.click("bob", "approve", request.id).status_code == 200
    done = e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED, timeout=180)
    assert done.state is State.SUCCEEDED, done.reason
    e2e.wait_quiet(60)

    # the card is the live status: edited in place until its grid says every host is done
    final = next(m for m in e2e.slack.messages(CHANNEL) if m.ts == card.ts)
    grid = _text_of(final.blocks)
    assert "✅ 30 done" in grid and "running" not in grid and "waiting" not in grid
    assert final.edits, "the card was edited in place"
    # the thread: one reply per host when it finished, and the summary; no per-step replies
    replies = e2e.slack.thread(CHANNEL, card.ts)[1:]
    per_host = [m for m in replies if any(f"{h} ·" in (m.text or "") for h in FLEET)]
    assert len(per_host) == len(FLEET)
    assert len(replies) == len(FLEET) + 1
    # every Web API call of this request (card, edits, replies, summary, ephemerals)
    web = [c for c in e2e.slack.calls[before:] if c.method != "response_url"]
    assert len(web) <= 3 * len(FLEET), {c.method for c in web}
