"""Who may request, who may approve, and when an approval round is complete (pure).

Every decision carries a reason written for the person who clicked: it names the rule that
applied (the allowed channels, the approvers who could approve instead), because "not allowed"
alone sends people to the admin. Reasons are Slack mrkdwn (``<@U...>``, ``<#C...>``,
``<!subteam^S...>`` render as names in Slack).

Two rules hold whatever ``policy.yaml`` says: the requester never approves their own request,
and an approval only counts while its hash equals the request's current hash.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from workers.domain.config import ApproverRule, PolicyConfig
from workers.domain.model import Request, State

MAX_NAMED = 8  # how many users/groups/channels a reason lists before "and N more"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # user-facing and specific


def _user(user_id: str) -> str:
    return f"<@{user_id}>"


def _group(group_id: str) -> str:
    return f"<!subteam^{group_id}>"


def _channel(channel_id: str) -> str:
    return f"<#{channel_id}>"


def _listing(items: Iterable[str]) -> str:
    unique = list(dict.fromkeys(items))
    shown = unique[:MAX_NAMED]
    text = ", ".join(shown)
    if len(unique) > MAX_NAMED:
        text += f" and {len(unique) - MAX_NAMED} more"
    return text


def _channel_decision(policy: PolicyConfig, channel: str, what: str) -> Decision | None:
    if policy.channels and channel not in policy.channels:
        allowed = _listing(_channel(c) for c in policy.channels)
        return Decision(False, f"{what} only in {allowed}; this channel is not one of them.")
    return None


def may_request(
    policy: PolicyConfig, user: str, channel: str, user_groups: Collection[str]
) -> Decision:
    """Requesters are listed by user id or Slack user group; an empty list admits no one."""
    refused = _channel_decision(policy, channel, "Changes can be requested")
    if refused is not None:
        return refused
    if user in policy.requesters:
        return Decision(True, f"{_user(user)} is a listed requester.")
    shared = [g for g in policy.requester_groups if g in set(user_groups)]
    if shared:
        return Decision(True, f"{_user(user)} is a member of {_group(shared[0])}.")
    who = [_user(u) for u in policy.requesters] + [_group(g) for g in policy.requester_groups]
    if not who:
        return Decision(False, "No one may request changes: policy.yaml lists no requesters.")
    return Decision(
        False,
        f"You are not allowed to request changes. Requesters: {_listing(who)}; "
        "ask one of them, or an admin to add you to policy.yaml.",
    )


def may_read(
    policy: PolicyConfig, user: str, channel: str, user_groups: Collection[str]
) -> Decision:
    """Readers (``policy.readers``; default: the requesters and every approver) in the allowed
    channels. The read commands open WinRM sessions with the admin login or show the request's
    trail, so they are not for every workspace member."""
    refused = _channel_decision(policy, channel, "Cloud sync commands can be used")
    if refused is not None:
        return refused
    if policy.readers is None:
        users = set(policy.requesters) | {u for r in policy.approvers for u in r.users}
    else:
        users = set(policy.readers)
    if policy.reader_groups is None:
        groups = set(policy.requester_groups) | {g for r in policy.approvers for g in r.groups}
    else:
        groups = set(policy.reader_groups)
    if user in users:
        return Decision(True, f"{_user(user)} is a listed reader.")
    shared = sorted(groups & set(user_groups))
    if shared:
        return Decision(True, f"{_user(user)} is a member of {_group(shared[0])}.")
    who = [_user(u) for u in sorted(users)] + [_group(g) for g in sorted(groups)]
    if not who:
        return Decision(False, "No one may use this command: policy.yaml lists no readers.")
    return Decision(
        False,
        f"You are not allowed to use this command. Readers: {_listing(who)}; "
        "ask one of them, or an admin to add you to `readers` in policy.yaml.",
    )


def rule_applies(
    rule: ApproverRule, hosts: Iterable[str], host_tags: dict[str, tuple[str, ...]]
) -> bool:
    """A host-tag rule covers a request only when every host carries one of the rule's tags."""
    if not rule.host_tags:
        return True
    wanted = set(rule.host_tags)
    return all(wanted & set(host_tags.get(h, ())) for h in hosts)


def applicable_rules(
    policy: PolicyConfig, request: Request, host_tags: dict[str, tuple[str, ...]]
) -> list[ApproverRule]:
    return [r for r in policy.approvers if rule_applies(r, request.change.hosts, host_tags)]


def approvers_text(rules: Iterable[ApproverRule], exclude: str | None = None) -> str:
    """Who could approve under these rules, as mrkdwn mentions (the requester left out)."""
    names: list[str] = []
    for rule in rules:
        names += [_user(u) for u in rule.users if u != exclude]
        names += [f"members of {_group(g)}" for g in rule.groups]
    return _listing(names)


def valid_approvers(request: Request) -> list[str]:
    """Distinct approvers (not the requester) whose approval matches the current hash, in order."""
    seen: list[str] = []
    for approval in request.approvals:
        if approval.request_hash != request.request_hash or approval.user == request.requester:
            continue
        if approval.user not in seen:
            seen.append(approval.user)
    return seen


def may_approve(
    policy: PolicyConfig,
    request: Request,
    user: str,
    channel: str,
    user_groups: Collection[str],
    host_tags: dict[str, tuple[str, ...]],
) -> Decision:
    """Check one click. ``channel`` is where it came from; pass "" from the App Home tab."""
    if user == request.requester:
        return Decision(False, f"You requested {request.id}; a different approver must approve it.")
    if request.state != State.PENDING_APPROVAL:
        return Decision(
            False, f"{request.id} is no longer waiting for approval (it is {request.state.value})."
        )
    refused = _channel_decision(policy, channel or request.channel, "Requests are approved")
    if refused is not None:
        return refused
    rules = applicable_rules(policy, request, host_tags)
    if not rules:
        hosts = ", ".join(request.change.hosts)
        return Decision(
            False,
            f"No approver rule in policy.yaml covers every host of {request.id} ({hosts}); "
            "an admin must add one before it can be approved.",
        )
    groups = set(user_groups)
    matching = [r for r in rules if user in r.users or groups & set(r.groups)]
    if not matching:
        who = approvers_text(rules, exclude=request.requester) or "no one besides the requester"
        return Decision(False, f"You cannot approve {request.id}. It can be approved by {who}.")
    if user in valid_approvers(request):
        left = needed_of(policy, request) - len(valid_approvers(request))
        more = f"; it needs {left} more from someone else" if left > 0 else ""
        return Decision(False, f"You already approved {request.id}{more}.")
    return Decision(True, f"{_user(user)} may approve {request.id}.")


def is_approver(
    policy: PolicyConfig,
    user: str,
    user_groups: Collection[str],
    host_tags: dict[str, tuple[str, ...]],
) -> bool:
    """Whether ``user`` matches an approver rule covering all of these hosts (keys of host_tags).

    No requester check here: callers use it for "may cancel/retry/see in App Home", where the
    requester is handled on its own; approving itself goes through ``may_approve``.
    """
    groups = set(user_groups)
    return any(
        user in rule.users or groups & set(rule.groups)
        for rule in policy.approvers
        if rule_applies(rule, host_tags.keys(), host_tags)
    )


def may_deny(
    policy: PolicyConfig,
    request: Request,
    user: str,
    channel: str,
    user_groups: Collection[str],
    host_tags: dict[str, tuple[str, ...]],
) -> Decision:
    """Approvers may deny (even one who approved already); the requester cancels instead."""
    if user == request.requester:
        return Decision(
            False, f"You requested {request.id}; use Cancel (or `/cloudsync cancel {request.id}`)."
        )
    if request.state != State.PENDING_APPROVAL:
        return Decision(
            False, f"{request.id} is no longer waiting for approval (it is {request.state.value})."
        )
    refused = _channel_decision(policy, channel or request.channel, "Requests are denied")
    if refused is not None:
        return refused
    rules = applicable_rules(policy, request, host_tags)
    groups = set(user_groups)
    if any(user in r.users or groups & set(r.groups) for r in rules):
        return Decision(True, f"{_user(user)} may deny {request.id}.")
    who = approvers_text(rules, exclude=request.requester) or "an admin (no approver rule applies)"
    return Decision(False, f"You cannot deny {request.id}. It can be denied by {who}.")


def needed_of(policy_or_needed: PolicyConfig | int, request: Request) -> int:
    """Approvals needed: the larger of the policy's (or the given) number and the request's own."""
    if isinstance(policy_or_needed, PolicyConfig):
        base = policy_or_needed.approvals_needed
    else:
        base = int(policy_or_needed)
    return max(1, base, request.approvals_needed)


def approvals_complete(policy_or_needed: PolicyConfig | int, request: Request) -> bool:
    """N of M: distinct non-requester approvers whose approval hash is the current one."""
    if not request.request_hash:
        return False  # an approval must be bound to a plan; no hash, nothing to bind to
    return len(valid_approvers(request)) >= needed_of(policy_or_needed, request)


def is_expired(request: Request, now: float) -> bool:
    """Only a request still waiting for approval expires; a decided one keeps its state."""
    if request.state == State.EXPIRED:
        return True
    if request.state != State.PENDING_APPROVAL or request.expires_at is None:
        return False
    return now >= request.expires_at
