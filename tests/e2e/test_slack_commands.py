"""Every /cloudsync subcommand and the default policy's rules, through Bolt's HTTP endpoint with
signed requests, against the real stack (Redis, a Celery worker, WinRM to simulated hosts)."""

from __future__ import annotations

from bot.local import payloads
from tests.e2e.harness import USERS, E2EStack
from tests.e2e.slack_helpers import (
    ack_text,
    buttons,
    card,
    card_text,
    mark,
    reply_to,
    run_count,
    wait_card,
)
from workers.domain.model import ChangeKind, State


def _count(e2e: E2EStack) -> int:
    return len(e2e.store.recent(limit=10000))


# --- read-only subcommands ---


def test_help_answers_in_the_ack(e2e: E2EStack) -> None:
    response = e2e.slash("alice", "help")
    assert response.status_code == 200
    text = ack_text(response)
    for word in ("install", "plan", "check", "agents", "status", "list", "cancel", "retry"):
        assert word in text
    assert response.json().get("response_type") == "ephemeral"
    topic = ack_text(e2e.slash("alice", "help install"))
    assert "--domain" in topic


def test_plan_shows_steps_and_stores_nothing(e2e: E2EStack) -> None:
    before = _count(e2e)
    assert e2e.slash("alice", "plan SYNC01 --domain contoso.com").status_code == 200
    text = reply_to(e2e, "alice", "Install the provisioning agent")
    assert "contoso.com" in text
    assert _count(e2e) == before


def test_check_runs_a_read_only_preflight(e2e: E2EStack) -> None:
    before = _count(e2e)
    assert e2e.slash("carol", "check OLDTLS01").status_code == 200
    reply_to(e2e, "carol", "Checking OLDTLS01")
    text = reply_to(e2e, "carol", "TLS 1.2")
    assert "OLDTLS01" in text
    assert _count(e2e) == before
    assert run_count(e2e, "OLDTLS01") == 0


def test_agents_lists_every_inventory_host(e2e: E2EStack) -> None:
    assert e2e.slash("carol", "agents").status_code == 200
    text = reply_to(e2e, "carol", "MFA01")
    for host in ("SYNC01", "SYNC02", "OLDTLS01"):
        assert host in text


# --- install, status, list, audit trail ---


def test_install_status_list_and_the_decided_card(e2e: E2EStack) -> None:
    installs = run_count(e2e, "SYNC03")
    request = e2e.submit("alice", "install SYNC03 --domain contoso.com")
    pending = card(e2e, request.id)
    assert {b["action_id"] for b in buttons(pending)} >= {"approve", "deny"}

    assert e2e.slash("bob", "list --pending").status_code == 200
    reply_to(e2e, "bob", request.id)

    assert e2e.click("bob", "approve", request.id).status_code == 200
    done = e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED)
    assert done.state is State.SUCCEEDED, done.reason
    final = wait_card(e2e, request.id, "succeeded")
    assert not buttons(final), "a decided card has no buttons"

    seen = mark(e2e, "alice")
    assert e2e.slash("alice", f"status {request.id}").status_code == 200
    trail = reply_to(e2e, "alice", request.id, after=seen)
    for event in ("requested by", "approved", "succeeded"):
        assert event in trail.lower(), trail

    assert e2e.slash("alice", "list --mine").status_code == 200
    mine = [t for t in e2e.ephemerals_for("alice") if request.id in t]
    assert mine
    assert e2e.slash("carol", "list").status_code == 200
    reply_to(e2e, "carol", request.id)
    assert run_count(e2e, "SYNC03") - installs <= 1
    installs = run_count(e2e, "SYNC03")

    # with the agent in place, a restart is approved and runs
    restart = e2e.submit("carol", "restart SYNC03")
    assert e2e.click("bob", "approve", restart.id).status_code == 200
    restarted = e2e.wait_state(restart.id, State.SUCCEEDED, State.FAILED)
    assert restarted.state is State.SUCCEEDED, restarted.reason
    assert run_count(e2e, "SYNC03") == installs, "a restart does not reinstall"


# --- the other approval-gated changes ---


def test_other_changes_are_requests_needing_approval(e2e: E2EStack) -> None:
    cases = {
        "writeback enable --host SYNC01": ChangeKind.WRITEBACK,
        "writeback disable --host SYNC02": ChangeKind.WRITEBACK,
        "domain add SYNC01 --domain fabrikam.com": ChangeKind.DOMAIN_ADD,
        "permissions SYNC01 --type PasswordWriteback": ChangeKind.PERMISSIONS,
        "restart SYNC01": ChangeKind.RESTART,
        "restart PROXY01": ChangeKind.RESTART,  # an agent in place: never blocked
    }
    pending = []
    for text, kind in cases.items():
        request = e2e.submit("alice", text)
        assert request.change.kind is kind, text
        if all(p.blocked for p in request.preflight.values()):
            # e.g. no agent on the host yet in this session: nothing to approve, closed at once
            assert request.state is State.CANCELLED and request.decided_by is None, text
            assert "preflight blocked every host" in (request.reason or "")
            continue
        assert request.state is State.PENDING_APPROVAL
        pending.append(text)
        message = card(e2e, request.id)
        assert {b["action_id"] for b in buttons(message)} >= {"deny", "cancel"}
        assert e2e.slash("alice", f"cancel {request.id}").status_code == 200
        e2e.wait_state(request.id, State.CANCELLED)
    assert "restart PROXY01" in pending


# --- cancel and retry ---


def test_cancel_command_and_cancel_button(e2e: E2EStack) -> None:
    first = e2e.submit("alice", "install TWIN01 --domain contoso.com")
    assert e2e.slash("mallory", f"cancel {first.id}").status_code == 200
    assert "Only the requester or an approver" in reply_to(e2e, "mallory", first.id)
    assert e2e.store.get(first.id).state is State.PENDING_APPROVAL
    assert e2e.slash("alice", f"cancel {first.id}").status_code == 200
    reply_to(e2e, "alice", f"{first.id} cancelled")
    e2e.wait_state(first.id, State.CANCELLED)

    installs = run_count(e2e, "TWIN02")
    second = e2e.submit("alice", "install TWIN02 --domain contoso.com")
    cancel = [b for b in buttons(card(e2e, second.id)) if b["action_id"] == "cancel"]
    assert cancel and cancel[0]["value"] == second.id
    assert e2e.click("carol", "cancel", second.id).status_code == 200
    e2e.wait_state(second.id, State.CANCELLED)
    final = wait_card(e2e, second.id, "cancelled")
    assert not buttons(final)
    # approving a cancelled request is refused and nothing runs
    assert e2e.click("bob", "approve", second.id).status_code == 200
    assert "already cancelled" in reply_to(e2e, "bob", second.id)
    assert run_count(e2e, "TWIN02") == installs


def test_retry_from_a_step_after_a_failure(e2e: E2EStack) -> None:
    installs = run_count(e2e, "MFA01")
    request = e2e.submit("alice", "install MFA01 --domain contoso.com")
    assert e2e.click("bob", "approve", request.id).status_code == 200
    failed = e2e.wait_state(request.id, State.FAILED, State.SUCCEEDED)
    assert failed.state is State.FAILED
    installs = run_count(e2e, "MFA01")
    assert e2e.slash("alice", f"retry {request.id} --from nosuchstep").status_code == 200
    assert e2e.store.get(request.id).state is State.FAILED
    assert e2e.slash("alice", f"retry {request.id} --from connect").status_code == 200
    reply_to(e2e, "alice", "queued again from `connect`")
    e2e.wait_for(
        lambda: any(e.name == "retried" for e in e2e.store.events(request_id=request.id)),
        what="retried event",
    )
    again = e2e.wait_state(request.id, State.FAILED, State.SUCCEEDED)
    assert again.state is State.FAILED
    assert run_count(e2e, "MFA01") == installs, "the retry resumed at connect: no reinstall"


# --- policy rules ---


def test_non_approver_cannot_approve_or_deny(e2e: E2EStack) -> None:
    request = e2e.submit("bob", "install SYNC02 --domain fabrikam.com")
    assert e2e.click("alice", "approve", request.id).status_code == 200
    text = reply_to(e2e, "alice", f"cannot approve {request.id}")
    assert "<@U03CAROL>" in text
    opened = len(e2e.slack.opened_views)
    assert e2e.click("alice", "deny", request.id).status_code == 200
    reply_to(e2e, "alice", f"cannot deny {request.id}")
    assert len(e2e.slack.opened_views) == opened, "no modal for someone who cannot deny"
    assert e2e.store.get(request.id).state is State.PENDING_APPROVAL
    e2e.slash("bob", f"cancel {request.id}")
    e2e.wait_state(request.id, State.CANCELLED)


def test_mallory_is_not_a_requester(e2e: E2EStack) -> None:
    before = _count(e2e)
    assert e2e.slash("mallory", "install SYNC01 --domain contoso.com").status_code == 200
    reply_to(e2e, "mallory", "not allowed to request")
    assert _count(e2e) == before


def test_disallowed_channel_is_refused(e2e: E2EStack) -> None:
    before, seen = _count(e2e), mark(e2e, "alice")
    response = e2e.slash("alice", "install SYNC01 --domain contoso.com", channel="C99RANDOM")
    assert response.status_code == 200
    text = reply_to(e2e, "alice", "<#C01OPS>", after=seen)
    assert "this channel is not one of them" in text
    assert _count(e2e) == before
    # approving from another channel is refused too
    request = e2e.submit("alice", "install TWIN01 --domain fabrikam.com")
    assert e2e.click("bob", "approve", request.id, channel="C99RANDOM").status_code == 200
    reply_to(e2e, "bob", "Requests are approved only in")
    assert e2e.store.get(request.id).state is State.PENDING_APPROVAL
    e2e.slash("alice", f"cancel {request.id}")
    e2e.wait_state(request.id, State.CANCELLED)


def test_unknown_host_is_a_usage_error_and_stores_nothing(e2e: E2EStack) -> None:
    before = _count(e2e)
    response = e2e.slash("alice", "install NOPE99 --domain contoso.com")
    assert response.status_code == 200
    text = ack_text(response)
    assert "Unknown host 'NOPE99'" in text and "SYNC01" in text
    assert _count(e2e) == before


# --- clicks: double, simultaneous, deny modal ---


def test_double_and_simultaneous_clicks_settle_once(e2e: E2EStack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    installs = run_count(e2e, "SYNC02")
    request = e2e.submit("alice", "install SYNC02 --domain contoso.com")
    clicks = [("bob", "approve"), ("carol", "approve"), ("bob", "approve"), ("carol", "approve")]
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda c: e2e.click(c[0], c[1], request.id).status_code, clicks))
    assert statuses == [200] * 4
    done = e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED)
    assert done.state is State.SUCCEEDED, done.reason
    e2e.wait_quiet()
    events = [e.name for e in e2e.store.events(request_id=request.id)]
    assert events.count("approved") == 1
    assert events.count("finished") == 1
    assert len(done.approvals) == 1
    assert run_count(e2e, "SYNC02") - installs <= 1
    # the losers were told, not silently ignored
    refusals = [t for u in ("bob", "carol") for t in e2e.ephemerals_for(u) if request.id in t]
    assert any("already" in t for t in refusals), refusals


def test_deny_opens_a_modal_and_the_reason_shows_on_the_card(e2e: E2EStack) -> None:
    installs = run_count(e2e, "LAB01")
    request = e2e.submit("alice", "install LAB01 --domain contoso.com")
    opened = len(e2e.slack.opened_views)
    assert e2e.click("carol", "deny", request.id).status_code == 200
    view = e2e.wait_for(
        lambda: e2e.slack.opened_views[opened:] and e2e.slack.opened_views[-1]["view"],
        what="views.open",
    )
    assert view["callback_id"] == "deny_reason"
    assert view["private_metadata"] == request.id
    # an empty reason is refused inside the modal
    empty = e2e.submit_deny("carol", request.id, "   ")
    assert empty.status_code == 200
    assert empty.json().get("response_action") == "errors"
    assert e2e.store.get(request.id).state is State.PENDING_APPROVAL

    assert e2e.submit_deny("carol", request.id, "change freeze this week").status_code == 200
    denied = e2e.wait_state(request.id, State.DENIED)
    assert denied.decided_by == USERS["carol"]
    final = wait_card(e2e, request.id, "change freeze this week", "Denied by")
    assert "U03CAROL" in card_text(final) or "carol" in card_text(final)
    assert not buttons(final)
    # a late approve is refused and nothing runs
    assert e2e.click("bob", "approve", request.id).status_code == 200
    assert "denied" in reply_to(e2e, "bob", f"{request.id} is already")
    assert run_count(e2e, "LAB01") == installs


def test_app_home_lists_pending_for_approvers_and_own_requests(e2e: E2EStack) -> None:
    request = e2e.submit("alice", "install SYNC01 --domain fabrikam.com")

    def open_home(user: str) -> dict:  # type: ignore[type-arg]
        e2e.slack.home_views.pop(USERS[user], None)
        response = e2e.post(payloads.app_home_opened(USERS[user]))
        assert response.status_code == 200
        return e2e.wait_for(
            lambda: e2e.slack.home_views.get(USERS[user]), what=f"App Home of {user}"
        )

    bob_home = str(open_home("bob"))
    assert request.id in bob_home
    assert "approve" in bob_home
    alice_home = str(open_home("alice"))
    assert request.id in alice_home
    assert "'approve'" not in alice_home, "the requester gets no Approve button for her own"
    e2e.slash("alice", f"cancel {request.id}")
    e2e.wait_state(request.id, State.CANCELLED)
