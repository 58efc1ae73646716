"""How a change, a host's facts, a preflight verdict, a plan and a step result read in Slack:
the phrases the cards, the text answers and App Home share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.blocks.kit import (
    KIND_TITLES,
    SLASH,
    STATE_EMOJI,
    STATUS_EMOJI,
    duration,
    esc,
    first_line,
    mention,
    slack_date,
)
from workers.domain.model import (
    ChangeKind,
    ChangeSpec,
    Cloud,
    HostPreflight,
    Request,
    State,
    StepResult,
    StepStatus,
)
from workers.domain.policy import valid_approvers
from workers.runbook.preflight import tls12_label


def kind_title(change: ChangeSpec) -> str:
    title = KIND_TITLES.get(change.kind, str(change.kind))
    if change.kind is ChangeKind.WRITEBACK:
        title += ": enable" if change.writeback else ": disable"
    return title


def hosts_text(hosts: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(esc(h) for h in hosts[:limit])
    return shown + (f" and {len(hosts) - limit} more" if len(hosts) > limit else "")


def domains_text(change: ChangeSpec) -> str:
    parts = []
    for domain in change.domains:
        dcs = f" (preferred DCs: {', '.join(esc(d) for d in domain.preferred_dcs)})"
        parts.append(esc(domain.fqdn) + (dcs if domain.preferred_dcs else ""))
    return ", ".join(parts)


def options_lines(change: ChangeSpec) -> list[str]:
    """The options worth a second look by the approver, in plain words."""
    lines: list[str] = []
    if change.kind is ChangeKind.INSTALL:
        gmsa = f"custom `{esc(change.gmsa)}`" if change.gmsa else "default (created by the agent)"
        lines.append(f"gMSA: {gmsa}")
        cloud = "Azure US Government" if change.cloud is Cloud.USGOV else "public"
        lines.append(f"Cloud: {cloud}")
        lines.append(f"Password writeback: {'enable' if change.writeback else 'no change'}")
        if change.permissions or change.gmsa:
            kinds = ", ".join(change.permissions) or "default types"
            lines.append(f"Permissions: {esc(kinds)}")
    elif change.kind is ChangeKind.WRITEBACK:
        lines.append(f"Password writeback: {'enable' if change.writeback else 'disable'}")
        lines.append("Scope: the whole tenant (run on this one host)")
    elif change.kind is ChangeKind.PERMISSIONS:
        lines.append(f"Permissions: {esc(', '.join(change.permissions))}")
        scope = esc(change.permissions_domain) if change.permissions_domain else "forest-wide"
        lines.append(f"Scope: {scope}")
    elif change.kind is ChangeKind.PROXY_SET:
        lines.extend(proxy_lines(change))
    elif change.kind is ChangeKind.PROXY_CLEAR:
        lines.append("Proxy: removed from the agent's configuration (machine defaults)")
    return lines


def proxy_lines(change: ChangeSpec) -> list[str]:
    """The proxy and its bypass list as the approver checks them: the exact values written."""
    listed = ", ".join(f"`{esc(b)}`" for b in change.proxy_bypass)
    bypass = f"{listed} and local names" if listed else "local names only"
    return [f"Proxy: `{esc(change.proxy_url)}`", f"Bypass: {bypass}"]


def change_summary(change: ChangeSpec) -> str:
    """One plain line: what, where (used in fallbacks and lists)."""
    text = f"{kind_title(change)} on {', '.join(change.hosts)}"
    if change.domains:
        text += f" ({', '.join(d.fqdn for d in change.domains)})"
    return text


_DOTNET = (
    (533320, "4.8.1"),
    (528040, "4.8"),
    (461808, "4.7.2"),
    (461308, "4.7.1"),
    (460798, "4.7"),
    (394802, "4.6.2"),
)


def fact(facts: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in facts and facts[name] is not None:
            return facts[name]
    return None


def _dotnet(release: Any) -> str:
    try:
        number = int(release)
    except (TypeError, ValueError):
        return esc(release)
    for minimum, version in _DOTNET:
        if number >= minimum:
            return f"{version} ({number})"
    return f"older than 4.6.2 ({number})"


def facts_line(facts: Mapping[str, Any]) -> str:
    """OS · .NET · TLS 1.2 · agent, from whichever of the known fact names are present."""
    parts: list[str] = []
    os_name = fact(facts, "os_caption", "os", "os_name")
    if os_name is not None:
        version = fact(facts, "os_version")
        core_type = str(fact(facts, "installation_type") or "").lower() == "server core"
        core = " (Server Core)" if core_type or fact(facts, "server_core") else ""
        parts.append(f"OS: {esc(os_name)}{f' {esc(version)}' if version else ''}{core}")
    dotnet = fact(facts, "dotnet_release", "dotnet")
    if dotnet is not None:
        parts.append(f".NET: {_dotnet(dotnet)}")
    tls = fact(facts, "tls12", "tls12_enabled")
    if tls is not None:
        parts.append(f"TLS 1.2: {'on' if tls else 'OFF'}")
    elif "sch_use_strong_crypto" in facts or "tls12_client_enabled" in facts:
        parts.append(f"TLS 1.2: {tls12_label(dict(facts))}")  # the runbook's own reading
    agent = fact(facts, "agent_installed", "agent_present")
    if agent is not None:
        version = fact(facts, "agent_version")
        shown = f"installed {esc(version)}" if agent and version else "installed"
        parts.append(f"Agent: {shown if agent else 'not installed'}")
    return " · ".join(parts)


PreflightLike = HostPreflight | Mapping[str, Any] | None


def _typed(preflight: PreflightLike) -> HostPreflight | None:
    """The typed entry (a check answer arrives as a dict in its event); None when not run."""
    if preflight is None or isinstance(preflight, HostPreflight):
        return preflight
    return HostPreflight.from_dict(dict(preflight)) if preflight else None


def preflight_blocked(preflight: PreflightLike) -> bool:
    """Approval is blocked by any listed blocker, and by a preflight that did not pass."""
    pre = _typed(preflight)
    return pre is not None and pre.blocked


def blocked_hosts(preflight: Mapping[str, PreflightLike]) -> list[str]:
    return [host for host, result in preflight.items() if preflight_blocked(result)]


def preflight_lines(preflight: PreflightLike) -> list[str]:
    pre = _typed(preflight)
    if pre is None:
        return ["🕓 Preflight not run yet"]
    lines: list[str] = []
    if pre.blocked:
        count = len(pre.blockers)
        lines.append(f"⛔ *Preflight: {count or 'a'} blocker{'s' if count != 1 else ''}*")
    else:
        lines.append("✅ Preflight passed")
    if pre.facts and facts_line(pre.facts):
        lines.append(facts_line(pre.facts))
    for item in pre.blockers:
        fix = f"\n    Fix: {esc(item.fix)}" if item.fix else ""
        lines.append(f"• ⛔ *{esc(item.what)}*" + fix)
    if not pre.ok and not pre.blockers:
        error = pre.error
        lines.append(f"• ⛔ *Preflight did not pass*{f': {esc(error)}' if error else ''}")
    for item in pre.warnings:
        lines.append(f"• ⚠️ {esc(item.what)}" + (f" ({esc(item.fix)})" if item.fix else ""))
    return lines


def plan_lines(steps: Sequence[tuple[str, str]]) -> list[str]:
    return [f"{i}. {esc(title)}" for i, (_step_id, title) in enumerate(steps, 1)]


def approvals_text(request: Request) -> str:
    approvers = valid_approvers(request)
    text = f"{len(approvers)} of {request.approvals_needed}"
    if approvers:
        text += " (" + ", ".join(f"<@{esc(u)}>" for u in approvers) + ")"
    return text


def ignored_approvals_line(ignored: int) -> str:
    """Said where approvals are counted, when some stored ones carry no valid bot seal."""
    if ignored == 1:
        return "⚠️ 1 approval not signed by the bot was ignored (written outside the bot)."
    return f"⚠️ {ignored} approvals not signed by the bot were ignored (written outside the bot)."


def decision_line(request: Request) -> str:
    """Who decided and when, for the card whose buttons were removed."""
    at = slack_date(request.decided_at)
    state = request.state
    reason = f": {esc(request.reason)}" if request.reason else ""
    if state == State.DENIED:
        # the requester is mentioned: the card's field shows only their name, with no ping
        return (
            f"⛔ Denied by {mention(request.decided_by)} {at}{reason} · "
            f"<@{esc(request.requester)}>, a new request is needed"
        )
    if state == State.EXPIRED:
        when = slack_date(request.expires_at or request.decided_at)
        return f"⌛ Expired {when} with {approvals_text(request)} approvals."
    if state == State.CANCELLED and not request.decided_by and request.reason:
        # closed by the bot, not a person (e.g. a preflight that blocked every host)
        return f"🚫 Closed {at}{reason} · <@{esc(request.requester)}>, a new request is needed"
    if state == State.CANCELLED:
        return f"🚫 Cancelled by {mention(request.decided_by)} {at}{reason}"
    if state == State.PENDING_APPROVAL:
        return f"🕓 Waiting for approval ({approvals_text(request)})."
    approvers = valid_approvers(request) or ([request.decided_by] if request.decided_by else [])
    names = ", ".join(f"<@{esc(u)}>" for u in approvers) or "someone"
    return f"✅ Approved by {names} {at} · now {state.value.replace('_', ' ')}"


def latest_results(results: Iterable[StepResult]) -> dict[str, StepResult]:
    """The newest result per step id (a retried step reports again with a higher attempt)."""
    latest: dict[str, StepResult] = {}
    for result in results:
        latest[result.step_id] = result
    return latest


def merged_steps(
    plan: Sequence[tuple[str, str]], results: Sequence[StepResult], host: str = ""
) -> list[StepResult]:
    """The plan's steps in order, each with its result (or pending), plus unplanned results."""
    latest = latest_results(results)
    out: list[StepResult] = []
    for step_id, title in plan:
        pending = StepResult(host=host, step_id=step_id, title=title, status=StepStatus.PENDING)
        out.append(latest.pop(step_id, pending))
    out.extend(latest.values())
    return out


ATTEMPT_EVENTS = ("approved", "retried")  # each starts a new attempt at the plan


def attempt_started(events: Iterable[Any]) -> float | None:
    """When the current attempt began: the last approval or retry (events or their dicts)."""
    since: float | None = None
    for event in events:
        name = event.get("event") if isinstance(event, Mapping) else getattr(event, "name", "")
        at = event.get("at") if isinstance(event, Mapping) else getattr(event, "at", None)
        if name in ATTEMPT_EVENTS and isinstance(at, int | float):
            since = max(since or 0.0, float(at))
    return since


def current_results(
    results: Mapping[str, Sequence[StepResult]], since: float | None
) -> dict[str, list[StepResult]]:
    """Each host's results without what an attempt before ``since`` (a retry, a new approval)
    left failed, cancelled or running: this attempt has not reached that step yet, so the card
    shows it pending instead of the old failure."""
    stale = (StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.RUNNING)

    def old(result: StepResult) -> bool:
        when = result.finished_at or result.started_at
        return since is not None and result.status in stale and when is not None and when < since

    return {host: [r for r in rows if not old(r)] for host, rows in results.items()}


def counted_steps(
    plan_steps: Mapping[str, Sequence[tuple[str, str]]],
    results: Mapping[str, Sequence[StepResult]],
    hosts: Iterable[str],
) -> dict[str, list[StepResult]]:
    """Each host's steps as the card counts them (the plan merged with the results), for
    ``status`` to show and count the same steps."""
    return {h: merged_steps(plan_steps.get(h) or (), results.get(h) or (), h) for h in hosts}


def step_line(result: StepResult) -> str:
    emoji = STATUS_EMOJI.get(result.status, "•")
    text = f"{emoji} {esc(result.title or result.step_id)}"
    took = duration(result.duration_s)
    if took:
        text += f" · {took}"
    if result.status == StepStatus.FAILED:
        text += f" — {esc(first_line(result.error or result.summary, 120))}"
    elif result.status == StepStatus.SKIPPED and result.summary:
        text += f" — {esc(first_line(result.summary, 80))}"
    return text


def host_outcome(steps: Sequence[StepResult]) -> tuple[str, str]:
    """(emoji, words) for one host: failed at X, cancelled at X, done, or in progress."""
    for result in steps:
        if result.status == StepStatus.FAILED:
            return "❌", f"failed at {result.step_id}"
        if result.status == StepStatus.CANCELLED:
            return "🚫", f"cancelled at {result.step_id}"
    if steps and all(r.status in (StepStatus.DONE, StepStatus.SKIPPED) for r in steps):
        done = sum(1 for r in steps if r.status == StepStatus.DONE)
        return "✅", f"{done} done, {len(steps) - done} skipped"
    finished = sum(1 for r in steps if r.status in (StepStatus.DONE, StepStatus.SKIPPED))
    return "⏳", f"{finished}/{len(steps)} steps"


def retry_hint(request: Request) -> str:
    if request.stopped_at:
        return f" (or `{SLASH} retry {request.id} --from {esc(request.stopped_at)}`)"
    return ""


def request_header_lines(request: Request) -> list[str]:
    change = request.change
    lines = [
        f"{STATE_EMOJI.get(request.state, '')} *{request.id}* · {esc(kind_title(change))} · "
        f"*{request.state.value.replace('_', ' ')}*",
        f"Requested by <@{esc(request.requester)}> in <#{esc(request.channel)}> "
        f"{slack_date(request.created_at)}",
        f"Hosts: {hosts_text(change.hosts)}",
    ]
    if change.domains:
        lines.append(f"Domains: {domains_text(change)}")
    lines.extend(options_lines(change))
    if request.state == State.PENDING_APPROVAL:
        lines.append(
            f"Approvals: {approvals_text(request)} · expires {slack_date(request.expires_at)}"
        )
    else:
        lines.append(decision_line(request))
    return lines


def request_line(request: Request) -> str:
    state = request.state.value.replace("_", " ")
    if request.state == State.PENDING_APPROVAL:
        state += f" ({approvals_text(request)})"
    return (
        f"• {STATE_EMOJI.get(request.state, '')} *{request.id}* "
        f"{esc(change_summary(request.change))} — {state} · <@{esc(request.requester)}> · "
        f"{slack_date(request.created_at)}"
    )
