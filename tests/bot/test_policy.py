"""Policy decisions: who may request, who may approve, N of M, expiry, channels, host tags."""

from __future__ import annotations

from dataclasses import replace

from workers.domain.config import ApproverRule, PolicyConfig
from workers.domain.model import Approval, ChangeKind, ChangeSpec, DomainSpec, Request, State
from workers.domain.policy import (
    Decision,
    approvals_complete,
    is_approver,
    is_expired,
    may_approve,
    may_deny,
    may_request,
    valid_approvers,
)

ALICE, BOB, CAROL, DAVE = "U01ALICE", "U02BOB", "U03CAROL", "U04DAVE"
OPS = "C01OPS"
TAGS: dict[str, tuple[str, ...]] = {"SYNC01": ("prod",), "SYNC02": ("prod",), "LAB01": ("lab",)}


def policy(**overrides: object) -> PolicyConfig:
    base = PolicyConfig(
        requesters=(ALICE, BOB),
        requester_groups=("S01OPS",),
        approvers=(ApproverRule(users=(BOB, CAROL)),),
        approvals_needed=1,
        approval_expiry_s=3600.0,
        channels=(OPS,),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def request(hosts: tuple[str, ...] = ("SYNC01",), **overrides: object) -> Request:
    base = Request(
        id="CS-0001",
        change=ChangeSpec(
            kind=ChangeKind.INSTALL, hosts=hosts, domains=(DomainSpec("contoso.com"),)
        ),
        requester=ALICE,
        channel=OPS,
        created_at=1000.0,
        expires_at=4600.0,
        request_hash="h1",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def approve(req: Request, user: str, hash_: str = "h1") -> None:
    req.approvals.append(Approval(user=user, at=2000.0, request_hash=hash_))


# --- requesting -----------------------------------------------------------------------------


def test_listed_requester_may_request() -> None:
    assert may_request(policy(), ALICE, OPS, ()).allowed


def test_group_member_may_request() -> None:
    decision = may_request(policy(), DAVE, OPS, {"S01OPS"})
    assert decision.allowed
    assert "S01OPS" in decision.reason


def test_non_requester_is_told_who_may() -> None:
    decision = may_request(policy(), DAVE, OPS, {"S99OTHER"})
    assert not decision.allowed
    assert "<@U01ALICE>" in decision.reason and "<!subteam^S01OPS>" in decision.reason


def test_empty_requester_list_admits_no_one() -> None:
    decision = may_request(policy(requesters=(), requester_groups=()), ALICE, OPS, ())
    assert not decision.allowed
    assert "lists no requesters" in decision.reason


def test_request_from_disallowed_channel_names_the_allowed_ones() -> None:
    decision = may_request(policy(channels=(OPS, "C02INFRA")), ALICE, "C99RANDOM", ())
    assert not decision.allowed
    assert "<#C01OPS>" in decision.reason and "<#C02INFRA>" in decision.reason


def test_no_channel_list_means_any_channel() -> None:
    assert may_request(policy(channels=()), ALICE, "C99RANDOM", ()).allowed


# --- approving ------------------------------------------------------------------------------


def test_listed_approver_may_approve() -> None:
    decision = may_approve(policy(), request(), BOB, OPS, (), TAGS)
    assert decision == Decision(True, decision.reason)


def test_requester_never_approves_own_request_even_when_listed() -> None:
    pol = policy(approvers=(ApproverRule(users=(ALICE, BOB)),))
    decision = may_approve(pol, request(), ALICE, OPS, (), TAGS)
    assert not decision.allowed
    assert decision.reason == "You requested CS-0001; a different approver must approve it."


def test_requester_never_approves_via_group_either() -> None:
    pol = policy(approvers=(ApproverRule(groups=("S01APPROVERS",)),))
    assert not may_approve(pol, request(), ALICE, OPS, {"S01APPROVERS"}, TAGS).allowed


def test_non_approver_is_told_who_can_approve() -> None:
    pol = policy(approvers=(ApproverRule(users=(BOB, ALICE), groups=("S01APPROVERS",)),))
    decision = may_approve(pol, request(), DAVE, OPS, (), TAGS)
    assert not decision.allowed
    assert "<@U02BOB>" in decision.reason
    assert "<!subteam^S01APPROVERS>" in decision.reason
    assert "<@U01ALICE>" not in decision.reason  # the requester is not offered as approver


def test_group_based_approver() -> None:
    pol = policy(approvers=(ApproverRule(groups=("S01APPROVERS",)),))
    assert may_approve(pol, request(), DAVE, OPS, {"S01APPROVERS"}, TAGS).allowed
    assert not may_approve(pol, request(), DAVE, OPS, {"S02OTHER"}, TAGS).allowed


def test_approval_click_from_disallowed_channel() -> None:
    decision = may_approve(policy(), request(), BOB, "C99RANDOM", (), TAGS)
    assert not decision.allowed
    assert "<#C01OPS>" in decision.reason


def test_app_home_click_uses_the_request_channel() -> None:
    assert may_approve(policy(), request(), BOB, "", (), TAGS).allowed
    assert not may_approve(policy(), request(channel="C99X"), BOB, "", (), TAGS).allowed


def test_only_pending_requests_can_be_approved() -> None:
    decision = may_approve(policy(), request(state=State.DENIED), BOB, OPS, (), TAGS)
    assert not decision.allowed
    assert "denied" in decision.reason


def test_same_user_twice_is_refused_and_counts_once() -> None:
    req = request()
    approve(req, BOB)
    decision = may_approve(policy(approvals_needed=2), req, BOB, OPS, (), TAGS)
    assert not decision.allowed
    assert "already approved" in decision.reason and "1 more" in decision.reason
    approve(req, BOB)
    assert valid_approvers(req) == [BOB]
    assert not approvals_complete(2, req)


# --- N of M ---------------------------------------------------------------------------------


def test_n_of_m_counts_distinct_users_with_the_current_hash() -> None:
    req = request(approvals_needed=2)
    approve(req, BOB)
    assert not approvals_complete(policy(approvals_needed=2), req)
    approve(req, CAROL, hash_="stale")  # approved an older plan: does not count
    assert not approvals_complete(policy(approvals_needed=2), req)
    approve(req, CAROL)
    assert approvals_complete(policy(approvals_needed=2), req)
    assert valid_approvers(req) == [BOB, CAROL]


def test_requester_approval_record_never_counts() -> None:
    req = request()
    approve(req, ALICE)  # even if one slipped into the store
    assert not approvals_complete(1, req)


def test_one_approval_is_enough_by_default() -> None:
    req = request()
    approve(req, BOB)
    assert approvals_complete(policy(), req)
    assert approvals_complete(1, req)


def test_request_own_count_is_not_lowered_by_the_policy() -> None:
    req = request(approvals_needed=2)
    approve(req, BOB)
    assert not approvals_complete(policy(approvals_needed=1), req)


def test_no_hash_never_completes() -> None:
    req = request(request_hash="")
    approve(req, BOB, hash_="")
    assert not approvals_complete(1, req)


# --- expiry ---------------------------------------------------------------------------------


def test_expiry() -> None:
    req = request()
    assert not is_expired(req, 4599.9)
    assert is_expired(req, 4600.0)
    assert not is_expired(request(expires_at=None), 10**12)
    assert not is_expired(request(state=State.RUNNING), 10**12)  # decided: never expires
    assert is_expired(request(state=State.EXPIRED), 0)


# --- host tags ------------------------------------------------------------------------------


def tag_policy() -> PolicyConfig:
    return policy(
        approvers=(
            ApproverRule(users=(BOB,), host_tags=("prod",)),
            ApproverRule(users=(CAROL,), host_tags=("lab",)),
        )
    )


def test_host_tag_rule_applies_when_every_host_has_the_tag() -> None:
    prod = request(hosts=("SYNC01", "SYNC02"))
    assert may_approve(tag_policy(), prod, BOB, OPS, (), TAGS).allowed
    decision = may_approve(tag_policy(), prod, CAROL, OPS, (), TAGS)
    assert not decision.allowed
    assert "<@U02BOB>" in decision.reason and "<@U03CAROL>" not in decision.reason


def test_host_tag_rule_does_not_cover_a_mixed_request() -> None:
    mixed = request(hosts=("SYNC01", "LAB01"))
    for user in (BOB, CAROL):
        decision = may_approve(tag_policy(), mixed, user, OPS, (), TAGS)
        assert not decision.allowed
        assert "No approver rule" in decision.reason


def test_untagged_rule_covers_any_host() -> None:
    pol = policy(
        approvers=(
            ApproverRule(users=(BOB,), host_tags=("prod",)),
            ApproverRule(users=(DAVE,)),
        )
    )
    mixed = request(hosts=("SYNC01", "LAB01", "UNTAGGED"))
    assert may_approve(pol, mixed, DAVE, OPS, (), TAGS).allowed
    assert not may_approve(pol, mixed, BOB, OPS, (), TAGS).allowed


# --- deny and the approver test used for cancel/retry/App Home -------------------------------


def test_is_approver_respects_groups_and_host_tags() -> None:
    pol = tag_policy()
    assert is_approver(pol, BOB, (), {"SYNC01": ("prod",)})
    assert not is_approver(pol, BOB, (), {"SYNC01": ("prod",), "LAB01": ("lab",)})
    assert not is_approver(pol, DAVE, (), {"SYNC01": ("prod",)})
    grouped = policy(approvers=(ApproverRule(groups=("S01APPROVERS",)),))
    assert is_approver(grouped, DAVE, {"S01APPROVERS"}, {"SYNC01": ()})


def test_may_deny() -> None:
    req = request()
    assert may_deny(policy(), req, BOB, OPS, (), TAGS).allowed
    own = may_deny(policy(), req, ALICE, OPS, (), TAGS)
    assert not own.allowed and "Cancel" in own.reason
    other = may_deny(policy(), req, DAVE, OPS, (), TAGS)
    assert not other.allowed and "can be denied by <@U02BOB>, <@U03CAROL>" in other.reason
    approve(req, BOB)  # an approver who approved may still deny (changed their mind)
    assert may_deny(policy(approvals_needed=2), req, BOB, OPS, (), TAGS).allowed
    assert not may_deny(policy(), request(state=State.QUEUED), BOB, OPS, (), TAGS).allowed
    assert not may_deny(policy(), req, BOB, "C99RANDOM", (), TAGS).allowed


def test_readers_default_to_requesters_and_approvers() -> None:
    from workers.domain.config import ApproverRule, PolicyConfig
    from workers.domain.policy import may_read

    policy = PolicyConfig(
        requesters=("U1",),
        requester_groups=("S1",),
        approvers=(ApproverRule(users=("U2",), groups=("S2",)),),
        channels=("C1",),
    )
    assert may_read(policy, "U1", "C1", ()).allowed
    assert may_read(policy, "U2", "C1", ()).allowed
    assert may_read(policy, "U9", "C1", ("S2",)).allowed
    refused = may_read(policy, "U9", "C1", ())
    assert not refused.allowed and "readers" in refused.reason
    assert not may_read(policy, "U1", "C9", ()).allowed  # outside the allowed channels


def test_an_explicit_readers_list_replaces_the_default() -> None:
    from workers.domain.config import ApproverRule, PolicyConfig
    from workers.domain.policy import may_read

    policy = PolicyConfig(
        requesters=("U1",),
        requester_groups=(),
        approvers=(ApproverRule(users=("U2",)),),
        readers=("U7",),
        reader_groups=(),
    )
    assert may_read(policy, "U7", "C1", ()).allowed
    assert not may_read(policy, "U1", "C1", ()).allowed
