"""Redis is not trusted to say what was approved. A request written into Redis by hand (queued
with no seal, queued or approved with a seal copied from another request) or altered there
after its approval is refused by the worker, with a ``refused`` audit event, and nothing runs
on the host. Real stack: Bolt over HTTP, Redis, a Celery worker, simulated hosts."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from tests.e2e.harness import CHANNEL, USERS, E2EStack
from tests.e2e.slack_helpers import bot_errors, card_text, mark, reply_to, wait_card
from workers.domain.model import Approval, ChangeSpec, DomainSpec, Request, State


def _host_seen(e2e: E2EStack, host: str) -> dict[str, int]:
    """How much the simulated host has seen: script blocks, processes, state changes, HTTP."""
    record = e2e.sim_host(host).record.to_dict()
    seen = {k: len(record[k]) for k in ("script_blocks", "command_lines", "events")}
    return {**seen, "http_requests": int(record["http_requests"])}


def _write_by_hand(e2e: E2EStack, request: Request) -> None:
    """What someone with write access to Redis (not the bot) can do: set the keys."""
    prefix = e2e.settings.prefix
    client = e2e.store.redis
    client.set(f"{prefix}:req:{request.id}", json.dumps(request.to_dict()))
    client.sadd(f"{prefix}:open", request.id)
    client.zadd(f"{prefix}:all", {request.id: request.created_at})


def _run_refusals(e2e: E2EStack, request_id: str) -> list[str]:
    return [
        str(e.data.get("reason"))
        for e in e2e.store.events(request_id=request_id)
        if e.name == "refused" and e.data.get("action") == "run"
    ]


def test_a_request_written_into_redis_by_hand_is_refused(e2e: E2EStack) -> None:
    legit = e2e.submit("alice", "install SYNC03 --domain contoso.com")
    assert e2e.click("bob", "approve", legit.id).status_code == 200
    done = e2e.wait_state(legit.id, State.SUCCEEDED, State.FAILED)
    assert done.approval_seal
    e2e.wait_quiet()
    seen = _host_seen(e2e, "SYNC03")

    # the approvals (bob's, bound to the plan hash) are copied; their seals and the decision's
    # are left out (written purely by hand) or copied too: signed for another request id
    forged: list[tuple[Request, str]] = []
    unsigned = [replace(a, seal="") for a in done.approvals]
    why = "0 of 1 approvals signed by the bot"
    for state, approvals, seal in (
        (State.QUEUED, unsigned, ""),
        (State.QUEUED, done.approvals, done.approval_seal),
        (State.APPROVED, done.approvals, done.approval_seal),
    ):
        request = replace(
            done,
            id=e2e.store.next_id(),
            state=state,
            approvals=approvals,
            approval_seal=seal,
            created_at=time.time(),
            updated_at=0.0,  # long idle: recovery picks an approved one up
            attempts=0,
            reason=None,
        )
        _write_by_hand(e2e, request)
        forged.append((request, why))
    with bot_errors("bot.projector") as projector_errors:
        e2e.local.ctx.dispatcher.run(forged[0][0].id)
        e2e.local.ctx.dispatcher.run(forged[1][0].id)
        e2e.local.ctx.dispatcher.recover()  # the approved one: recovery queues, then runs it
        for request, _ in forged:
            e2e.wait_state(request.id, State.FAILED, State.SUCCEEDED)
        e2e.wait_for(lambda: e2e.local.projector.lag() == 0, what="the projector caught up")
    # a refused request the bot never posted has no card to thread a summary under
    assert not projector_errors.records, [r.getMessage() for r in projector_errors.records]

    for request, why in forged:
        failed = e2e.wait_state(request.id, State.FAILED, State.SUCCEEDED)
        assert failed.state is State.FAILED, request.id
        assert (failed.reason or "").startswith("refused by the worker"), failed.reason
        reasons = _run_refusals(e2e, request.id)
        assert len(reasons) == 1 and why in reasons[0], reasons
        names = [e.name for e in e2e.store.events(request_id=request.id)]
        assert "started" not in names and "step_started" not in names
    e2e.wait_quiet()
    time.sleep(0.5)
    assert _host_seen(e2e, "SYNC03") == seen, "nothing ran on the host"


def test_a_request_altered_in_redis_after_approval_is_refused(e2e: E2EStack) -> None:
    """An approved request (here one whose run failed) altered in Redis: the bot's retry
    refuses it, and queued again by hand, the worker refuses it; nothing runs."""
    request = e2e.submit("alice", "install MFA01 --domain contoso.com")
    assert e2e.click("bob", "approve", request.id).status_code == 200
    failed = e2e.wait_state(request.id, State.FAILED, State.SUCCEEDED)
    assert failed.state is State.FAILED and failed.approval_seal
    e2e.wait_quiet()
    hosts = ("MFA01", "SYNC01")
    seen = {h: _host_seen(e2e, h) for h in hosts}
    key = f"{e2e.settings.prefix}:req:{request.id}"
    original = json.loads(e2e.store.redis.get(key))

    # another change voids bob's own approval seal (it names the change); the rest void the
    # decision's seal
    unsigned, mismatch = "0 of 1 approvals signed by the bot", "does not match"
    alterations = {
        "another domain": (
            lambda d: d["change"]["domains"].__setitem__(0, DomainSpec("fabrikam.com").to_dict()),
            unsigned,
        ),
        "another host": (
            lambda d: d["change"].__setitem__(
                "hosts", [*ChangeSpec.from_dict(d["change"]).hosts, "SYNC01"]
            ),
            unsigned,
        ),
        "an extra approver": (
            lambda d: d["approvals"].append({**d["approvals"][0], "user": USERS["carol"]}),
            mismatch,
        ),
        "another fingerprint": (
            lambda d: d["preflight"]["MFA01"].__setitem__("fingerprint", "x"),
            mismatch,
        ),
        "a later step": (lambda d: d.__setitem__("retry_from", "verify"), mismatch),
    }
    for number, (what, (alter, why)) in enumerate(alterations.items(), start=1):
        data = json.loads(json.dumps(original))
        alter(data)
        e2e.store.redis.set(key, json.dumps(data))
        if number == 1:  # the bot's own retry looks at the seal first
            after = mark(e2e, "alice")
            assert e2e.slash("alice", f"retry {request.id}").status_code == 200
            text = reply_to(e2e, "alice", request.id, after=after)
            assert "does not hold the approvals" in text and "submit a new request" in text
            assert e2e.store.get(request.id).state is State.FAILED
        data["state"] = "queued"  # queued by hand, as the bot would never have
        e2e.store.redis.set(key, json.dumps(data))
        e2e.local.ctx.dispatcher.run(request.id)
        e2e.wait_for(
            lambda n=number: len(_run_refusals(e2e, request.id)) == n,
            what=f"the worker's refusal of {what}",
        )
        again = e2e.wait_state(request.id, State.FAILED)
        assert why in (again.reason or ""), (what, again.reason)
        assert again.channel == CHANNEL
    refused = [e for e in e2e.store.events(request_id=request.id) if e.name == "refused"]
    assert [e.data["action"] for e in refused].count("retry") == 1
    e2e.wait_quiet()
    time.sleep(0.5)
    assert {h: _host_seen(e2e, h) for h in hosts} == seen, "nothing ran on the hosts"


def test_an_approval_written_into_redis_is_ignored_on_the_card(e2e: E2EStack) -> None:
    """The card counts what the service counts: an approval added in Redis (no seal, or a seal
    copied from another request) shows as none, and the card says one was ignored; nothing is
    queued, and the real approver can still approve."""
    donor = e2e.submit("alice", "install SYNC03 --domain contoso.com")
    assert e2e.click("bob", "approve", donor.id).status_code == 200
    copied = e2e.wait_state(donor.id, State.SUCCEEDED, State.FAILED).approvals[0].seal
    e2e.wait_quiet()
    request = e2e.submit("alice", "install SYNC03 --domain contoso.com")
    wait_card(e2e, request.id, "0 of 1")
    stored = e2e.store.require(request.id)
    forged = Approval(
        user=USERS["carol"], at=time.time(), request_hash=stored.request_hash, seal=copied
    )
    _write_by_hand(e2e, replace(stored, approvals=[forged]))
    e2e.store.record(request.id, "approval_added", actor=USERS["carol"])  # the card re-renders
    message = wait_card(e2e, request.id, "1 approval not signed by the bot was ignored")
    text = card_text(message)
    assert "0 of 1" in text and f"<@{USERS['carol']}>" not in text, text
    assert e2e.store.require(request.id).state is State.PENDING_APPROVAL
    after = mark(e2e, "alice")
    assert e2e.slash("alice", f"status {request.id}").status_code == 200
    status = reply_to(e2e, "alice", request.id, after=after)
    assert "0 of 1" in status and "1 approval not signed by the bot was ignored" in status
    assert e2e.click("carol", "approve", request.id).status_code == 200  # her real approval
    assert e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED).approvals[-1].seal
