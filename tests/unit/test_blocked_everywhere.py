"""A request whose preflight blocks every host can never be approved (preflight runs once), so
it is closed at once: cancelled by nobody, with the reason, and its card says so with no
buttons. One bad host among good ones leaves the request pending (resubmit without it).
Real Redis; the card is rendered from the stored request."""

from __future__ import annotations

import time

import pytest

from bot import blocks as B
from bot.render import render_blocks
from workers.domain.config import load_config
from workers.domain.model import (
    ChangeKind,
    ChangeSpec,
    DomainSpec,
    HostPreflight,
    Problem,
    Request,
    State,
)
from workers.domain.service import RequestService
from workers.domain.store import RequestStore, TransitionRefused

ALICE, BOB = "U01ALICE", "U02BOB"
GOOD = HostPreflight(ok=True)
BAD = HostPreflight(ok=False, blockers=[Problem("no agent is installed", "install it first")])


class _NoDispatch:
    def preflight(self, request_id: str) -> None:
        return None

    def run(self, request_id: str) -> None:
        return None


def _submitted(service: RequestService, *hosts: str) -> Request:
    store = service.store
    request = Request(
        id=store.next_id(),
        change=ChangeSpec(ChangeKind.INSTALL, hosts, (DomainSpec("contoso.com"),)),
        requester=ALICE,
        channel="C01OPS",
        created_at=time.time(),
        expires_at=time.time() + 600,
    )
    store.create(request, actor=ALICE)
    return request


def test_blocked_on_every_host_is_closed_with_the_reason(rclient) -> None:
    service = RequestService(RequestStore(rclient), load_config(), _NoDispatch())
    request = _submitted(service, "SYNC03")
    closed = service.record_preflight(request.id, {"SYNC03": BAD}, "h1")
    assert closed.state is State.CANCELLED and closed.decided_by is None
    assert closed.reason and "blocked every host (SYNC03)" in closed.reason
    assert "then submit again" in closed.reason
    assert request.id not in {r.id for r in service.store.open_requests()}
    (event,) = [e for e in service.store.events(request_id=request.id) if e.name == "preflight"]
    assert event.actor is None  # the bot closed it, not a person
    with pytest.raises(TransitionRefused):
        service.approve(request.id, BOB, "C01OPS", ())
    _, card = B.decided_card(closed)
    assert not [b for b in card if b["type"] == "actions"]  # no buttons left
    shown = render_blocks(card)
    assert "Closed" in shown and "nothing to approve" in shown and "no agent is installed" in shown


def test_one_good_host_keeps_the_request_pending(rclient) -> None:
    service = RequestService(RequestStore(rclient), load_config(), _NoDispatch())
    request = _submitted(service, "SYNC01", "SYNC03")
    kept = service.record_preflight(request.id, {"SYNC01": GOOD, "SYNC03": BAD}, "h1")
    assert kept.state is State.PENDING_APPROVAL and kept.reason is None
