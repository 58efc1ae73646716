"""One bad host does not hold a multi-host request hostage: through the real stack, the card of
a request whose preflight blocks one host offers "Resubmit without" it, for the requester only,
and the new request goes through its own preflight and approval."""

from __future__ import annotations

from tests.e2e.harness import CHANNEL, E2EStack
from tests.e2e.slack_helpers import buttons, reply_to, wait_card
from workers.domain.model import State


def test_resubmit_without_the_blocked_host(e2e: E2EStack) -> None:
    request = e2e.submit("alice", "install TWIN02,OLDTLS01 --domain contoso.com")
    pending = wait_card(e2e, request.id, "Resubmit without OLDTLS01")
    offered = [b for b in buttons(pending) if b["action_id"] == "resubmit_without"]
    assert offered and offered[0]["value"] == request.id
    assert "approve" not in {b["action_id"] for b in buttons(pending)}  # still blocked

    assert e2e.click("bob", "resubmit_without", request.id).status_code == 200
    assert "Only the requester" in reply_to(e2e, "bob", request.id)
    assert e2e.store.get(request.id).state is State.PENDING_APPROVAL

    assert e2e.click("alice", "resubmit_without", request.id).status_code == 200
    said = reply_to(e2e, "alice", "without OLDTLS01")
    old = e2e.wait_state(request.id, State.CANCELLED)
    fresh_id = (old.reason or "").split()[2]
    assert old.reason == f"resubmitted as {fresh_id} without OLDTLS01"
    assert fresh_id in said
    fresh = e2e.wait_preflight(fresh_id)
    assert fresh.change.hosts == ("TWIN02",) and fresh.requester == old.requester
    assert fresh.state is State.PENDING_APPROVAL and not fresh.approvals  # its own approval
    new_card = e2e.wait_for(  # its own card (the old card's text names it too)
        lambda: next(
            (m for m in e2e.slack.messages(CHANNEL) if (m.text or "").startswith(f"{fresh_id}:")),
            None,
        ),
        what=f"card of {fresh_id}",
    )
    assert "approve" in {b["action_id"] for b in buttons(new_card)}
    assert "resubmit_without" not in {b["action_id"] for b in buttons(new_card)}

    assert e2e.slash("alice", f"cancel {fresh_id}").status_code == 200  # leave TWIN02 as it was
    e2e.wait_state(fresh_id, State.CANCELLED)
