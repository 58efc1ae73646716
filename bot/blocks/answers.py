"""Text answers shown only to the user who asked: status, list, plan, check and agents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.blocks.history import history_lines
from bot.blocks.kit import MAX_LONG_TEXT, SLASH, STATE_EMOJI, clip, code, esc, first_line
from bot.blocks.words import (
    PreflightLike,
    change_summary,
    host_outcome,
    hosts_text,
    ignored_approvals_line,
    latest_results,
    preflight_blocked,
    preflight_lines,
    request_header_lines,
    request_line,
    retry_hint,
    step_line,
)
from workers.domain.model import (
    ChangeSpec,
    Request,
    State,
    StepResult,
    StepStatus,
)
from workers.domain.store import iso_utc


def approval_lines(request: Request) -> list[str]:
    """Who approved and when (ISO UTC, exact for an auditor), and the plan hash each approval
    is bound to; an approval of an older plan is marked void."""
    lines = []
    for approval in request.approvals:
        void = "" if approval.request_hash == request.request_hash else " (void: older plan)"
        lines.append(
            f"Approved by <@{esc(approval.user)}> at {iso_utc(approval.at)} · plan "
            f"`{esc(approval.request_hash[:12])}`{void}"
        )
    if request.decided_by and request.state == State.DENIED and request.decided_at:
        lines.append(f"Denied by <@{esc(request.decided_by)}> at {iso_utc(request.decided_at)}")
    return lines


def status_text(
    request: Request,
    results: Mapping[str, Sequence[StepResult]],
    audit_events: Sequence[Any] = (),
    *,
    max_events: int = 15,
    ignored_approvals: int = 0,
) -> str:
    """`/cloudsync status ID`: the request, each host's steps, and its history (every decision,
    the newest ``max_events`` step lines); ``request`` holds only the approvals the bot signed
    (``ignored_approvals``: the others)."""
    lines = request_header_lines(request)
    lines.extend(approval_lines(request))
    if ignored_approvals:
        lines.append(ignored_approvals_line(ignored_approvals))
    for host in request.change.hosts:
        host_results = list(latest_results(results.get(host) or ()).values())
        if not host_results:
            continue
        emoji, words = _not_started(request, host_results) or host_outcome(host_results)
        lines.append(f"{emoji} *{esc(host)}* — {esc(words)}")
        lines.extend("    " + step_line(r) for r in host_results)
    if request.state == State.FAILED:
        lines.append(f"Retry: `{SLASH} retry {request.id}`{retry_hint(request)}")
    if audit_events:
        lines.append("*History:*")
        lines.extend(history_lines(audit_events, max_steps=max_events))
    return clip("\n".join(lines), MAX_LONG_TEXT)


# A host none of whose steps has started, by the request's state: "⏳ 0/5 steps" would say a
# run is under way. Before the approval it waits for one; approved or queued, it keeps the
# card's "0/5 steps" (the card and the status count alike) under the state's own symbol.
_WAITING = {
    State.APPROVED: "approved, waiting for a worker",
    State.QUEUED: "queued, waiting for a worker",
}


def _not_started(request: Request, host_results: Sequence[StepResult]) -> tuple[str, str] | None:
    """(emoji, words) for a host none of whose steps has started, unless the run is on."""
    if request.state == State.RUNNING or any(r.status != StepStatus.PENDING for r in host_results):
        return None
    emoji = STATE_EMOJI.get(request.state, "•")
    if request.state == State.PENDING_APPROVAL:
        return emoji, f"waiting for approval ({len(host_results)} steps planned)"
    if request.state in _WAITING:
        return emoji, f"{host_outcome(host_results)[1]}, {_WAITING[request.state]}"
    return emoji, f"{request.state.value}: no step ran"


def list_text(requests: Sequence[Request], *, limit: int = 50) -> str:
    if not requests:
        return "No requests match."
    lines = [request_line(r) for r in requests[:limit]]
    if len(requests) > limit:
        lines.append(f"… and {len(requests) - limit} more")
    return clip("\n".join(lines), MAX_LONG_TEXT)


def _get(item: Any, *names: str) -> Any:
    for name in names:
        value = item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
        if value is not None:
            return value
    return None


def agents_text(facts: Mapping[str, Any] | Iterable[Any]) -> str:
    """`/cloudsync agents`: one line per host; takes {host: facts} or a list of fact objects."""
    if isinstance(facts, Mapping):
        items = [(str(host), data) for host, data in facts.items()]
    else:
        items = [(str(_get(f, "host", "name") or "?"), f) for f in facts]
    if not items:
        return "No hosts in the inventory."
    lines = []
    for host, data in sorted(items, key=lambda pair: pair[0]):
        error = _get(data, "error", "unreachable_reason")
        if _get(data, "reachable") is False or (error and _get(data, "installed") is None):
            lines.append(
                f"• ⚠️ *{esc(host)}*: unreachable{f' ({esc(first_line(error))})' if error else ''}"
            )
            continue
        installed = _get(data, "installed", "agent_installed", "agent_present")
        if not installed:
            lines.append(f"• ⬜ *{esc(host)}*: no agent")
            continue
        parts = [f"agent {esc(_get(data, 'version', 'agent_version') or '?')}"]
        service = _get(data, "service", "service_state", "service_status")
        if service:
            parts.append(f"service {esc(service)}")
        account = _get(data, "logon_account", "service_account", "logon")
        if account:
            parts.append(f"runs as {esc(account)}")
        domains = _get(data, "domains")
        if domains:
            shown = domains if isinstance(domains, str) else ", ".join(map(str, domains))
            parts.append(f"domains {esc(shown)}")
        updater = _get(data, "updater")
        if updater and str(updater).lower() != "running":
            parts.append(f"updater {esc(updater)}: start it, it keeps the agent up to date")
        ok = str(service or "").lower() in ("running", "") and str(updater or "").lower() in (
            "running",
            "",
        )
        lines.append(f"• {'✅' if ok else '⚠️'} *{esc(host)}*: " + " · ".join(parts))
    return clip("\n".join(lines), MAX_LONG_TEXT)


def check_text(host: str, preflight: PreflightLike) -> str:
    """`/cloudsync check HOST`: the verdict, the facts, each blocker with its fix."""
    lines = [f"*Preflight on {esc(host)}*", *preflight_lines(preflight)]
    if preflight_blocked(preflight):
        lines.append(
            f"Apply the fixes, then run `{SLASH} check {esc(host)}` again before requesting."
        )
    return clip("\n".join(lines), MAX_LONG_TEXT)


def _plan_entry(item: Any, show_accounts: bool = True) -> tuple[str, str, str, str]:
    """(step id, title, script, credentials note) from a tuple or a runbook PlanStep; the
    account names (privileged logins) only with ``show_accounts``, else the secret names."""
    if isinstance(item, tuple | list):
        padded = [*list(item), "", "", ""]
        return str(padded[0]), str(padded[1]), str(padded[2]), ""
    creds = []
    for cred in _get(item, "credentials") or ():
        name, user = (cred.get("secret"), cred.get("user")) if isinstance(cred, Mapping) else cred
        creds.append(f"`{esc(name)}` ({esc(user)})" if show_accounts else f"`{esc(name)}`")
    return (
        str(_get(item, "step_id", "id") or ""),
        str(_get(item, "title") or ""),
        str(_get(item, "script") or ""),
        f" · credentials: {', '.join(creds)}" if creds else "",
    )


def _plan_parts(plan: Any) -> tuple[dict[str, Sequence[Any]], list[str]]:
    """{host: steps} and extra warnings from a mapping, or from the runbook's ``Plan``."""
    if isinstance(plan, Mapping):
        return dict(plan), []
    steps: dict[str, Sequence[Any]] = {}
    notes = [str(w) for w in _get(plan, "warnings") or ()]
    for host_plan in _get(plan, "hosts") or ():
        host = str(_get(host_plan, "host") or "")
        steps[host] = list(_get(host_plan, "steps") or ())
        notes += [f"{host}: {w}" for w in _get(host_plan, "warnings") or ()]
        error = _get(host_plan, "error")
        if error:
            notes.append(f"{host}: cannot be planned: {error}")
    return steps, notes


def plan_text(
    change: ChangeSpec,
    plan_steps_with_scripts: Mapping[str, Sequence[Any]] | Any,
    *,
    warnings: Sequence[str] = (),
    script_chars: int = 1500,
    max_chars: int = MAX_LONG_TEXT,
    show_accounts: bool = True,
) -> str:
    """`/cloudsync plan`: steps and exact scripts per host; hosts with the same plan are shown once.

    Takes the runbook's ``Plan`` itself, or {host: [(step_id, title, script) or PlanStep]}. The
    scripts come from the runbook's plan, which writes credentials only as ``$Secrets['name']``
    references; the credentials line shows secret names and user names, never a value.
    """
    steps_by_host, notes = _plan_parts(plan_steps_with_scripts)
    lines = [f"*Plan: {esc(change_summary(change))}* (nothing runs until a request is approved)"]
    lines.extend(f"⚠️ {esc(w)}" for w in [*warnings, *notes])
    groups: dict[tuple[tuple[str, str, str, str], ...], list[str]] = {}
    for host in change.hosts:
        entries = tuple(_plan_entry(i, show_accounts) for i in steps_by_host.get(host) or ())
        groups.setdefault(entries, []).append(host)
    for entries, hosts in groups.items():
        # every host named: a tag's expansion is what an approval would cover
        lines.append(f"*{hosts_text(hosts, 100)}*" + (" (same plan)" if len(hosts) > 1 else ""))
        if not entries:
            lines.append("No steps.")
        for i, (step_id, title, script, creds) in enumerate(entries, 1):
            lines.append(f"{i}. *{esc(title or step_id)}* (`{esc(step_id)}`){creds}")
            if script.strip():
                lines.append(code(script, script_chars))
    text = "\n".join(lines)
    if len(text) > max_chars:
        note = f"\n… plan shortened; `{SLASH} plan` in the local console shows it in full."
        text = clip(text, max_chars - len(note)) + note
    return text
