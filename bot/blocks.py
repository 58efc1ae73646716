"""Block Kit builders: pure functions of domain objects -> (fallback text, blocks) or views.

Nothing here talks to Slack. Everything user- or host-provided is escaped (``& < >``) before it
goes into mrkdwn, so a host's error text or a deny reason can never ping a channel or forge a
link, and every element is clipped to Slack's documented limits (button text 75, value 2000,
confirm title 100 / text 300 / labels 30, section text 3000, 50 blocks per message, 100 per
App Home view) without breaking a code block, an entity or a mention at the cut.

The fallback ``text`` of each message is readable on its own: Slack shows it in notifications,
and the local console prints it above a simple rendering of the blocks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workers.domain.model import (
    ChangeKind,
    ChangeSpec,
    Cloud,
    Request,
    State,
    StepResult,
    StepStatus,
)
from workers.domain.policy import valid_approvers
from workers.runbook.preflight import tls12_enabled

JsonDict = dict[str, Any]
PlanSteps = Mapping[str, Sequence[tuple[str, str]]]

SLASH = "/cloudsync"
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_VALUE = 2000
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_LABEL = 30
MAX_MODAL_TITLE = 24
MAX_FALLBACK = 3000
MAX_LONG_TEXT = 12000  # ephemeral answers (plan, status); Slack's hard limit is 40000

STATUS_EMOJI: dict[StepStatus, str] = {
    StepStatus.PENDING: "⬜",
    StepStatus.RUNNING: "⏳",
    StepStatus.DONE: "✅",
    StepStatus.SKIPPED: "⏭️",
    StepStatus.FAILED: "❌",
    StepStatus.CANCELLED: "🚫",
}
STATE_EMOJI: dict[State, str] = {
    State.PENDING_APPROVAL: "🕓",
    State.APPROVED: "👍",
    State.QUEUED: "📥",
    State.RUNNING: "⏳",
    State.SUCCEEDED: "✅",
    State.FAILED: "❌",
    State.DENIED: "⛔",
    State.CANCELLED: "🚫",
    State.EXPIRED: "⌛",
}
KIND_TITLES: dict[ChangeKind, str] = {
    ChangeKind.INSTALL: "Install cloud sync agent",
    ChangeKind.WRITEBACK: "Password writeback",
    ChangeKind.DOMAIN_ADD: "Add AD domain",
    ChangeKind.PERMISSIONS: "Grant AD permissions",
    ChangeKind.RESTART: "Restart agent service",
}


# --- text helpers -------------------------------------------------------------------------------


def esc(text: Any) -> str:
    """Escape Slack's three control characters in untrusted text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_PARTIAL_TAIL = re.compile(r"(?:&[A-Za-z#0-9]{0,5}|<[^>\n]*)$")


def clip(text: str, limit: int) -> str:
    """Shorten mrkdwn to ``limit`` without leaving half an entity, a half mention or an open
    code block behind."""
    if len(text) <= limit:
        return text
    cut = _PARTIAL_TAIL.sub("", text[: max(0, limit - 4)])
    return cut + ("…```" if cut.count("```") % 2 else "…")


def clip_plain(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(text: str, limit: int = 1500) -> str:
    """A fenced code block of untrusted text: escaped, fences neutralised, clipped inside."""
    body = esc(text).replace("```", "'''").strip("\n") or " "
    if len(body) > limit:
        body = _PARTIAL_TAIL.sub("", body[: limit - 1]) + "…"
    return f"```{body}```"


def first_line(text: str | None, limit: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return clip_plain(line, limit)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, secs = divmod(round(seconds), 60)
        return f"{minutes} min {secs} s"
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60} min"


def utc(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def slack_date(ts: float | None) -> str:
    """A date Slack shows in the reader's time zone, with a UTC fallback for other clients."""
    if ts is None:
        return "-"
    return f"<!date^{int(ts)}^{{date_short_pretty}} {{time}}|{utc(ts)}>"


def mention(user_id: str | None, name: str = "") -> str:
    if name:
        return esc(name)
    return f"<@{esc(user_id)}>" if user_id else "someone"


# --- block primitives ---------------------------------------------------------------------------


def section(text: str) -> JsonDict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text or " ", MAX_SECTION)}}


def fields_section(pairs: Sequence[tuple[str, str]]) -> JsonDict:
    fields = [
        {"type": "mrkdwn", "text": clip(f"*{label}*\n{value or '-'}", MAX_FIELD)}
        for label, value in pairs[:MAX_FIELDS]
    ]
    return {"type": "section", "fields": fields}


def context(text: str) -> JsonDict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_SECTION)}]}


def header(text: str) -> JsonDict:
    return {"type": "header", "text": {"type": "plain_text", "text": clip_plain(text, MAX_HEADER)}}


def divider() -> JsonDict:
    return {"type": "divider"}


def confirm_dialog(title: str, text: str, yes: str, no: str) -> JsonDict:
    return {
        "title": {"type": "plain_text", "text": clip_plain(title, MAX_CONFIRM_TITLE)},
        "text": {"type": "mrkdwn", "text": clip(text, MAX_CONFIRM_TEXT)},
        "confirm": {"type": "plain_text", "text": clip_plain(yes, MAX_CONFIRM_LABEL)},
        "deny": {"type": "plain_text", "text": clip_plain(no, MAX_CONFIRM_LABEL)},
    }


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: JsonDict | None = None,
) -> JsonDict:
    out: JsonDict = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": clip_plain(text, MAX_BUTTON_TEXT), "emoji": True},
        "value": value[:MAX_VALUE],
    }
    if style:
        out["style"] = style
    if confirm:
        out["confirm"] = confirm
    return out


def fit(body: list[JsonDict], tail: list[JsonDict], limit: int = MAX_BLOCKS) -> list[JsonDict]:
    """Keep ``tail`` (buttons, decision line) whole and cut ``body`` to stay under ``limit``."""
    room = limit - len(tail)
    if len(body) > room:
        kept = body[: room - 1]
        dropped = len(body) - len(kept)
        kept.append(context(f"… {dropped} more blocks not shown; `{SLASH} status` has them."))
        body = kept
    return body + tail


# --- describing a change ------------------------------------------------------------------------


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
    return lines


def change_summary(change: ChangeSpec) -> str:
    """One plain line: what, where (used in fallbacks and lists)."""
    text = f"{kind_title(change)} on {', '.join(change.hosts)}"
    if change.domains:
        text += f" ({', '.join(d.fqdn for d in change.domains)})"
    return text


# --- preflight ----------------------------------------------------------------------------------

_DOTNET = (
    (533320, "4.8.1"),
    (528040, "4.8"),
    (461808, "4.7.2"),
    (461308, "4.7.1"),
    (460798, "4.7"),
    (394802, "4.6.2"),
)


def _fact(facts: Mapping[str, Any], *names: str) -> Any:
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
    os_name = _fact(facts, "os_caption", "os", "os_name")
    if os_name is not None:
        version = _fact(facts, "os_version")
        core_type = str(_fact(facts, "installation_type") or "").lower() == "server core"
        core = " (Server Core)" if core_type or _fact(facts, "server_core") else ""
        parts.append(f"OS: {esc(os_name)}{f' {esc(version)}' if version else ''}{core}")
    dotnet = _fact(facts, "dotnet_release", "dotnet")
    if dotnet is not None:
        parts.append(f".NET: {_dotnet(dotnet)}")
    tls = _fact(facts, "tls12", "tls12_enabled")
    if tls is None and "sch_use_strong_crypto" in facts:
        tls = tls12_enabled(dict(facts))  # the runbook's own reading of the registry values
    if tls is not None:
        parts.append(f"TLS 1.2: {'on' if tls else 'OFF'}")
    agent = _fact(facts, "agent_installed", "agent_present")
    if agent is not None:
        version = _fact(facts, "agent_version")
        shown = f"installed {esc(version)}" if agent and version else "installed"
        parts.append(f"Agent: {shown if agent else 'not installed'}")
    return " · ".join(parts)


def _problem(item: Any) -> tuple[str, str]:
    if isinstance(item, Mapping):
        return str(item.get("what", "")), str(item.get("fix", "") or "")
    return str(item), ""


def preflight_blocked(preflight: Mapping[str, Any] | None) -> bool:
    """Approval is blocked by any listed blocker, and by a preflight that did not pass."""
    if not isinstance(preflight, Mapping):
        return False
    return bool(preflight.get("blockers")) or preflight.get("ok") is False


def blocked_hosts(preflight: Mapping[str, Any]) -> list[str]:
    return [host for host, result in preflight.items() if preflight_blocked(result)]


def preflight_lines(preflight: Mapping[str, Any] | None) -> list[str]:
    if not isinstance(preflight, Mapping) or not preflight:
        return ["🕓 Preflight not run yet"]
    lines: list[str] = []
    blockers = preflight.get("blockers") or []
    if preflight_blocked(preflight):
        count = len(blockers)
        lines.append(f"⛔ *Preflight: {count or 'a'} blocker{'s' if count != 1 else ''}*")
    else:
        lines.append("✅ Preflight passed")
    facts = preflight.get("facts")
    if isinstance(facts, Mapping) and facts_line(facts):
        lines.append(facts_line(facts))
    for item in blockers:
        what, fix = _problem(item)
        lines.append(f"• ⛔ *{esc(what)}*" + (f"\n    Fix: {esc(fix)}" if fix else ""))
    if preflight.get("ok") is False and not blockers:
        error = preflight.get("error")
        lines.append(f"• ⛔ *Preflight did not pass*{f': {esc(error)}' if error else ''}")
    for item in preflight.get("warnings") or []:
        what, fix = _problem(item)
        lines.append(f"• ⚠️ {esc(what)}" + (f" ({esc(fix)})" if fix else ""))
    return lines


def plan_lines(steps: Sequence[tuple[str, str]]) -> list[str]:
    return [f"{i}. {esc(title)}" for i, (_step_id, title) in enumerate(steps, 1)]


# --- approval cards -----------------------------------------------------------------------------


def approvals_text(request: Request) -> str:
    approvers = valid_approvers(request)
    text = f"{len(approvers)} of {request.approvals_needed}"
    if approvers:
        text += " (" + ", ".join(f"<@{esc(u)}>" for u in approvers) + ")"
    return text


def _card_body(
    request: Request,
    plan_steps: PlanSteps,
    preflight: Mapping[str, Any],
    requester_name: str,
    warnings: Sequence[str],
) -> list[JsonDict]:
    change = request.change
    pairs = [
        ("Requested by", mention(request.requester, requester_name)),
        ("Hosts", hosts_text(change.hosts)),
    ]
    if change.domains:
        pairs.append(("Domains", domains_text(change)))
    options = options_lines(change)
    if options:
        pairs.append(("Options", "\n".join(options)))
    pairs.append(("Approvals", approvals_text(request)))
    if request.expires_at is not None:
        pairs.append(("Expires", slack_date(request.expires_at)))
    body = [header(f"{request.id} · {kind_title(change)}"), fields_section(pairs)]
    for host in change.hosts:
        lines = [f"*{esc(host)}*", *preflight_lines(preflight.get(host))]
        steps = plan_steps.get(host) or ()
        if steps:
            lines.append(f"*Plan ({len(steps)} steps):*")
            lines.extend(plan_lines(steps))
        body.append(section("\n".join(lines)))
    if warnings:
        body.append(context("\n".join(f"⚠️ {esc(w)}" for w in warnings)))
    return body


def _fallback(request: Request, requester_name: str, extra: str) -> str:
    """``extra`` is mrkdwn already (mentions, escaped reasons); the rest is escaped here."""
    who = mention(request.requester, requester_name)
    text = f"{request.id}: {who} requests {esc(change_summary(request.change))}. {extra}"
    return clip(text, MAX_FALLBACK)


def approval_card(
    request: Request,
    *,
    plan_steps: PlanSteps | None = None,
    preflight: Mapping[str, Any] | None = None,
    requester_name: str = "",
    warnings: Sequence[str] = (),
) -> tuple[str, list[JsonDict]]:
    """The request message with Approve/Deny/Cancel; no Approve while any preflight blocks."""
    preflight = request.preflight if preflight is None else preflight
    body = _card_body(request, plan_steps or {}, preflight, requester_name, warnings)
    blocked = blocked_hosts(preflight)
    buttons: list[JsonDict] = []
    if blocked:
        checks = " and ".join(f"`{SLASH} check {esc(h)}`" for h in blocked[:5])
        body.append(
            section(
                f"⛔ *Approval is blocked* until the fix is applied on {hosts_text(blocked)} "
                f"and {checks} passes."
            )
        )
    else:
        steps = sum(len(s) for s in (plan_steps or {}).values())
        what = f"{steps} steps" if steps else "the plan"
        buttons.append(
            button(
                "Approve",
                "approve",
                request.id,
                style="primary",
                confirm=confirm_dialog(
                    f"Approve {request.id}?",
                    f"This runs {what} on {hosts_text(request.change.hosts, 5)} with the "
                    "configured admin credentials.",
                    "Approve",
                    "Back",
                ),
            )
        )
    buttons.append(button("Deny", "deny", request.id, style="danger"))
    buttons.append(
        button(
            "Cancel request",
            "cancel",
            request.id,
            confirm=confirm_dialog(
                f"Cancel {request.id}?", "The request will not run.", "Cancel request", "Keep it"
            ),
        )
    )
    tail = [{"type": "actions", "block_id": f"approval:{request.id}", "elements": buttons}]
    state = (
        "Approval blocked by preflight."
        if blocked
        else f"Waiting for approval ({approvals_text(request)})."
    )
    return _fallback(request, requester_name, state), fit(body, tail)


def decision_line(request: Request) -> str:
    """Who decided and when, for the card whose buttons were removed."""
    at = slack_date(request.decided_at)
    state = request.state
    reason = f": {esc(request.reason)}" if request.reason else ""
    if state == State.DENIED:
        return f"⛔ Denied by {mention(request.decided_by)} {at}{reason}"
    if state == State.EXPIRED:
        when = slack_date(request.expires_at or request.decided_at)
        return f"⌛ Expired {when} with {approvals_text(request)} approvals."
    if state == State.CANCELLED:
        return f"🚫 Cancelled by {mention(request.decided_by)} {at}{reason}"
    if state == State.PENDING_APPROVAL:
        return f"🕓 Waiting for approval ({approvals_text(request)})."
    approvers = valid_approvers(request) or ([request.decided_by] if request.decided_by else [])
    names = ", ".join(f"<@{esc(u)}>" for u in approvers) or "someone"
    return f"✅ Approved by {names} {at} · now {state.value.replace('_', ' ')}"


def decided_card(
    request: Request,
    *,
    plan_steps: PlanSteps | None = None,
    preflight: Mapping[str, Any] | None = None,
    requester_name: str = "",
    warnings: Sequence[str] = (),
) -> tuple[str, list[JsonDict]]:
    """The same card after a decision: no buttons, one line naming who decided and when."""
    preflight = request.preflight if preflight is None else preflight
    body = _card_body(request, plan_steps or {}, preflight, requester_name, warnings)
    line = decision_line(request)
    tail = [context(line)]
    plain = re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", line)
    return _fallback(request, requester_name, plain), fit(body, tail)


# --- progress -----------------------------------------------------------------------------------


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


def progress_card(
    request: Request,
    results: Mapping[str, Sequence[StepResult]],
    plan_steps: PlanSteps,
) -> tuple[str, list[JsonDict]]:
    """The request message edited in place: a checklist per host and the overall state."""
    state = request.state
    body = [
        header(f"{request.id} · {kind_title(request.change)}"),
        context(
            f"{STATE_EMOJI.get(state, '')} *{state.value.replace('_', ' ')}* · requested by "
            f"<@{esc(request.requester)}> · {decision_line(request)}"
        ),
    ]
    details = ([f"Domains: {domains_text(request.change)}"] if request.change.domains else []) + (
        options_lines(request.change)
    )
    if details:
        body.append(context(" · ".join(details)))
    outcomes: list[str] = []
    for host in request.change.hosts:
        steps = merged_steps(plan_steps.get(host) or (), results.get(host) or (), host)
        emoji, words = host_outcome(steps)
        outcomes.append(f"{host} {words}")
        lines = [f"{emoji} *{esc(host)}* — {esc(words)}", *(step_line(s) for s in steps)]
        body.append(section("\n".join(lines)))
    if state == State.FAILED:
        body.append(context(f"Retry: `{SLASH} retry {request.id}`" + _from_hint(request)))
    text = f"{request.id} {change_summary(request.change)}: {state.value}. " + "; ".join(outcomes)
    return clip(text, MAX_FALLBACK), fit(body, [])


def _from_hint(request: Request) -> str:
    if request.stopped_at:
        return f" (or `{SLASH} retry {request.id} --from {esc(request.stopped_at)}`)"
    return ""


# --- thread replies -----------------------------------------------------------------------------


def step_reply(result: StepResult, *, request_id: str = "ID") -> tuple[str, list[JsonDict]]:
    """One thread reply per step: a short line for success, the full story for a failure."""
    emoji = STATUS_EMOJI.get(result.status, "•")
    took = duration(result.duration_s)
    took_text = f" ({took})" if took else ""
    head = f"{emoji} {result.host} · {result.step_id}"
    if result.status != StepStatus.FAILED:
        words = result.summary or result.title or result.status.value
        if result.status in (StepStatus.SKIPPED, StepStatus.CANCELLED):
            words = f"{result.status.value}: {words}" if result.summary else result.status.value
        line = esc(clip_plain(f"{head} — {first_line(words, 300)}{took_text}", MAX_FALLBACK))
        return line, [section(line)]
    retry = f"{SLASH} retry {request_id} --from {result.step_id}"
    attempt = f", attempt {result.attempt}" if result.attempt > 1 else ""
    title = f"{emoji} *{esc(result.host)} · {esc(result.step_id)} failed*{took_text}{attempt}"
    parts = [title]
    if result.summary:
        parts.append(esc(result.summary))
    hint = f"*What to do:* {esc(result.hint)}" if result.hint else ""
    retry_line = f"Then retry: `{esc(retry)}`"
    # the error gets whatever room the other parts leave in one section
    room = MAX_SECTION - sum(len(p) + 1 for p in (*parts, hint, retry_line)) - 10
    parts.append(code(result.error or "(no error text)", max(200, room)))
    if hint:
        parts.append(hint)
    parts.append(retry_line)
    text = esc(
        f"{head} failed{took_text}: {first_line(result.error or result.summary, 300)}"
        f" — retry with {retry}"
    )
    return clip(text, MAX_FALLBACK), [section("\n".join(parts))]


def summary(
    request: Request, results: Mapping[str, Sequence[StepResult]], requester_id: str
) -> tuple[str, list[JsonDict]]:
    """The final thread message: mentions the requester, per-host outcome, how to retry."""
    state = request.state
    emoji = STATE_EMOJI.get(state, "")
    head = f"<@{esc(requester_id)}> {emoji} *{request.id}* {esc(change_summary(request.change))}"
    head += f": *{state.value.replace('_', ' ')}*"
    lines: list[str] = []
    failed_steps: list[str] = []
    for host in request.change.hosts:
        host_results = list(latest_results(results.get(host) or ()).values())
        mark, words = host_outcome(host_results) if host_results else ("⬜", "did not run")
        total = sum(r.duration_s or 0.0 for r in host_results)
        took = f" ({duration(total)})" if total else ""
        line = f"{mark} *{esc(host)}*: {esc(words)}{took}"
        failure = next((r for r in host_results if r.status == StepStatus.FAILED), None)
        if failure is not None:
            failed_steps.append(failure.step_id)
            line += f" — {esc(first_line(failure.error or failure.summary, 200))}"
            if failure.hint:
                line += f"\n    {esc(first_line(failure.hint, 300))}"
        lines.append(line)
    if request.reason and state in (State.FAILED, State.CANCELLED, State.DENIED):
        lines.append(f"Reason: {esc(request.reason)}")
    body = [section(head), section("\n".join(lines) or "No hosts.")]
    text = f"<@{requester_id}> {request.id} {change_summary(request.change)}: {state.value}"
    if state == State.FAILED:
        step = request.stopped_at or (failed_steps[0] if failed_steps else None)
        retry = f"`{SLASH} retry {request.id}` continues from the failed step"
        if step:
            retry += f"; `{SLASH} retry {request.id} --from {esc(step)}` picks the step"
        body.append(context(retry + "."))
        text += f" — retry with {SLASH} retry {request.id}"
    return clip(text, MAX_FALLBACK), fit(body, [])


# --- modal --------------------------------------------------------------------------------------


def deny_modal(request_id: str) -> JsonDict:
    """Asks the approver why; the reason is required and goes to the requester and the audit."""
    return {
        "type": "modal",
        "callback_id": "deny_reason",
        "private_metadata": request_id[:3000],
        "title": {"type": "plain_text", "text": clip_plain(f"Deny {request_id}", MAX_MODAL_TITLE)},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Back"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "optional": False,
                "label": {"type": "plain_text", "text": "Why is this request denied?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "min_length": 1,
                    "max_length": 500,
                    "placeholder": {"type": "plain_text", "text": "The requester sees this."},
                },
            }
        ],
    }


# --- ephemeral answers (text only) --------------------------------------------------------------


def _audit_line(event: Any) -> str:
    if not isinstance(event, Mapping):
        return f"• {esc(event)}"
    at = _fact(event, "at", "ts", "time")
    what = _fact(event, "event", "type", "action", "kind") or "event"
    who = _fact(event, "user", "actor", "by")
    detail = _fact(event, "detail", "note", "reason", "message")
    when = utc(float(at)) if isinstance(at, int | float) else esc(at or "")
    line = f"• {when} {esc(what)}"
    if who:
        line += f" by <@{esc(who)}>"
    if detail:
        line += f": {esc(first_line(str(detail), 200))}"
    return line


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


def status_text(
    request: Request,
    results: Mapping[str, Sequence[StepResult]],
    audit_events: Sequence[Any] = (),
    *,
    max_events: int = 15,
) -> str:
    """`/cloudsync status ID`: the request, each host's steps, and the latest audit events."""
    lines = request_header_lines(request)
    for host in request.change.hosts:
        host_results = list(latest_results(results.get(host) or ()).values())
        if not host_results:
            continue
        emoji, words = host_outcome(host_results)
        lines.append(f"{emoji} *{esc(host)}* — {esc(words)}")
        lines.extend("    " + step_line(r) for r in host_results)
    if request.state == State.FAILED:
        lines.append(f"Retry: `{SLASH} retry {request.id}`{_from_hint(request)}")
    if audit_events:
        lines.append("*History:*")
        events = list(audit_events)[-max_events:]
        if len(audit_events) > max_events:
            lines.append(f"… {len(audit_events) - max_events} earlier events")
        lines.extend(_audit_line(e) for e in events)
    return clip("\n".join(lines), MAX_LONG_TEXT)


def request_line(request: Request) -> str:
    state = request.state.value.replace("_", " ")
    if request.state == State.PENDING_APPROVAL:
        state += f" ({approvals_text(request)})"
    return (
        f"• {STATE_EMOJI.get(request.state, '')} *{request.id}* "
        f"{esc(change_summary(request.change))} — {state} · <@{esc(request.requester)}> · "
        f"{slack_date(request.created_at)}"
    )


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
        ok = str(service or "").lower() in ("running", "")
        lines.append(f"• {'✅' if ok else '⚠️'} *{esc(host)}*: " + " · ".join(parts))
    return clip("\n".join(lines), MAX_LONG_TEXT)


def check_text(host: str, preflight: Mapping[str, Any]) -> str:
    """`/cloudsync check HOST`: the verdict, the facts, each blocker with its fix."""
    lines = [f"*Preflight on {esc(host)}*", *preflight_lines(preflight)]
    if preflight_blocked(preflight):
        lines.append(
            f"Apply the fixes, then run `{SLASH} check {esc(host)}` again before requesting."
        )
    return clip("\n".join(lines), MAX_LONG_TEXT)


def _plan_entry(item: Any) -> tuple[str, str, str, str]:
    """(step id, title, script, credentials note) from a tuple or a runbook PlanStep."""
    if isinstance(item, tuple | list):
        padded = [*list(item), "", "", ""]
        return str(padded[0]), str(padded[1]), str(padded[2]), ""
    creds = []
    for cred in _get(item, "credentials") or ():
        name, user = (cred.get("secret"), cred.get("user")) if isinstance(cred, Mapping) else cred
        creds.append(f"`{esc(name)}` ({esc(user)})")
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
        entries = tuple(_plan_entry(i) for i in steps_by_host.get(host) or ())
        groups.setdefault(entries, []).append(host)
    for entries, hosts in groups.items():
        lines.append(f"*{hosts_text(hosts)}*" + (" (same plan)" if len(hosts) > 1 else ""))
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


# --- App Home -----------------------------------------------------------------------------------


def _home_request(request: Request) -> list[JsonDict]:
    text = request_line(request)
    blocked = blocked_hosts(request.preflight)
    if blocked:
        text += f"\n⛔ Approval blocked by preflight on {hosts_text(blocked)}"
    buttons: list[JsonDict] = []
    if not blocked:
        buttons.append(
            button(
                "Approve",
                "approve",
                request.id,
                style="primary",
                confirm=confirm_dialog(
                    f"Approve {request.id}?",
                    f"{esc(change_summary(request.change))}.",
                    "Approve",
                    "Back",
                ),
            )
        )
    buttons.append(button("Deny", "deny", request.id, style="danger"))
    return [
        section(text),
        {"type": "actions", "block_id": f"home:{request.id}", "elements": buttons},
    ]


def home_view(pending_for_me: Sequence[Request], mine: Sequence[Request]) -> JsonDict:
    """The App Home tab: requests waiting for this approver (with buttons), then one's own."""
    blocks: list[JsonDict] = [header("Waiting for your approval")]
    if not pending_for_me:
        blocks.append(context("Nothing is waiting for you."))
    budget = MAX_HOME_BLOCKS - 8  # header, divider, own list and the cut note
    for request in pending_for_me:
        if len(blocks) + 2 > budget:
            blocks.append(context(f"More waiting: `{SLASH} list --pending` lists them all."))
            break
        blocks.extend(_home_request(request))
    blocks += [divider(), header("Your recent requests")]
    if mine:
        lines = [request_line(r) for r in mine[:20]]
        chunk: list[str] = []
        for line in lines:
            if sum(len(c) + 1 for c in chunk) + len(line) > MAX_SECTION - 100:
                blocks.append(section("\n".join(chunk)))
                chunk = []
            chunk.append(line)
        if chunk:
            blocks.append(section("\n".join(chunk)))
    else:
        blocks.append(context(f"No requests yet. `{SLASH} help` shows how to start one."))
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}
