"""The messages in the channel: the approval card and its later states, one reply per step,
the summary, and the deny modal. Each returns its fallback text (what notifications and the
local console show) with the blocks."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.blocks.fleet import FEW_HOSTS, fleet_plan_blocks, grid_blocks, packed_sections
from bot.blocks.kit import (
    MAX_FALLBACK,
    MAX_MODAL_TITLE,
    MAX_SECTION,
    SLASH,
    STATE_EMOJI,
    STATUS_EMOJI,
    JsonDict,
    PlanSteps,
    button,
    clip,
    clip_plain,
    code,
    confirm_dialog,
    context,
    duration,
    esc,
    fields_section,
    first_line,
    fit,
    header,
    mention,
    section,
    slack_date,
)
from bot.blocks.words import (
    approvals_text,
    blocked_hosts,
    change_summary,
    decision_line,
    domains_text,
    host_outcome,
    hosts_text,
    ignored_approvals_line,
    kind_title,
    latest_results,
    merged_steps,
    options_lines,
    plan_lines,
    preflight_lines,
    retry_hint,
    step_line,
)
from workers.domain.model import (
    Request,
    State,
    StepResult,
    StepStatus,
)


def _card_body(
    request: Request,
    plan_steps: PlanSteps,
    preflight: Mapping[str, Any],
    requester_name: str,
    warnings: Sequence[str],
    decided: bool = False,
) -> list[JsonDict]:
    """``decided``: denied, expired or cancelled: no approval count and no expiry (the
    decision line says what happened)."""
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
    if not decided:
        pairs.append(("Approvals", approvals_text(request)))
    if request.expires_at is not None and not decided:
        pairs.append(("Expires", slack_date(request.expires_at)))
    body = [header(f"{request.id} · {kind_title(change)}"), fields_section(pairs)]
    if len(change.hosts) > FEW_HOSTS:
        body.extend(fleet_plan_blocks(change.hosts, plan_steps, preflight))
    few = change.hosts if len(change.hosts) <= FEW_HOSTS else ()
    plans = {tuple(plan_steps.get(h) or ()) for h in few}
    shared = len(few) > 1 and len(plans) == 1  # one plan for every host: shown once, as above
    for host in few:
        lines = [f"*{esc(host)}*", *preflight_lines(preflight.get(host))]
        steps = plan_steps.get(host) or ()
        if steps and not shared:
            lines.append(f"*Plan ({len(steps)} steps):*")
            lines.extend(plan_lines(steps))
        body.append(section("\n".join(lines)))
    common = next(iter(plans), ()) if shared else ()
    if common:
        body.append(
            section("\n".join([f"*Plan on all hosts ({len(common)} steps):*", *plan_lines(common)]))
        )
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
    ignored_approvals: int = 0,
) -> tuple[str, list[JsonDict]]:
    """The request message with Approve/Deny/Cancel; no Approve while any preflight blocks.
    ``request`` holds only the approvals the bot signed; ``ignored_approvals`` counts the
    others stored with it (said on the card, never counted)."""
    preflight = request.preflight if preflight is None else preflight
    body = _card_body(request, plan_steps or {}, preflight, requester_name, warnings)
    if ignored_approvals:
        body.append(context(ignored_approvals_line(ignored_approvals)))
    blocked = blocked_hosts(preflight)
    others = [h for h in request.change.hosts if h not in blocked]
    buttons: list[JsonDict] = []
    if blocked:
        checks = " and ".join(f"`{SLASH} check {esc(h)}`" for h in blocked[:5])
        body.append(
            section(
                f"⛔ *Approval is blocked* by preflight on {hosts_text(blocked)}: this request "
                "cannot be approved as it is (its preflight does not run again). "
                + ("Resubmit without the blocked host, or apply" if others else "Apply")
                + f" the fix, see {checks} pass, and submit again."
            )
        )
    else:
        steps = sum(len(s) for s in (plan_steps or {}).values())
        what = f"{steps} steps" if steps else "the plan"
        buttons.append(
            approve_button(
                request.id,
                f"This runs {what} on {hosts_text(request.change.hosts, 5)} with the "
                "configured admin credentials.",
            )
        )
    if blocked and others:  # one bad host does not hold the others hostage
        buttons.append(resubmit_button(request.id, blocked, others))
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
    if request.reason and request.attempts:
        # back for approval after a run found the server changed (the service's reason)
        body.append(context(f"🔄 {esc(request.reason)}"))
    tail = [{"type": "actions", "block_id": f"approval:{request.id}", "elements": buttons}]
    state = (
        "Approval blocked by preflight."
        if blocked
        else f"Waiting for approval ({approvals_text(request)})."
    )
    return _fallback(request, requester_name, state), fit(body, tail)


def resubmit_button(request_id: str, blocked: Sequence[str], others: Sequence[str]) -> JsonDict:
    """A new request for the hosts preflight did not block, behind a confirmation; the
    requester's only (the service checks), and it needs its own approval."""
    without = blocked[0] if len(blocked) == 1 else f"{len(blocked)} blocked hosts"
    return button(
        f"Resubmit without {without}",
        "resubmit_without",
        request_id,
        confirm=confirm_dialog(
            f"Resubmit {request_id}?",
            f"A new request for {hosts_text(others, 5)} goes to approval; {request_id} is "
            "cancelled.",
            "Resubmit",
            "Back",
        ),
    )


def resubmitted_text(old_id: str, fresh: Request, left_out: Sequence[str]) -> str:
    """The clicker's answer: what was created, what was left out, what happens next."""
    return (
        f":inbox_tray: *{fresh.id}* created for {hosts_text(fresh.change.hosts)} (without "
        f"{hosts_text(left_out)}); {old_id} is cancelled. Running preflight now; its approval "
        "card follows in this channel."
    )


def approve_button(request_id: str, consequence: str) -> JsonDict:
    """Approve, behind a confirmation saying what approving does (the card and App Home)."""
    return button(
        "Approve",
        "approve",
        request_id,
        style="primary",
        confirm=confirm_dialog(f"Approve {request_id}?", consequence, "Approve", "Back"),
    )


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
    body = _card_body(request, plan_steps or {}, preflight, requester_name, warnings, True)
    line = decision_line(request)
    tail = [context(line)]
    plain = re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", line)
    return _fallback(request, requester_name, plain), fit(body, tail)


def progress_card(
    request: Request,
    results: Mapping[str, Sequence[StepResult]],
    plan_steps: PlanSteps,
) -> tuple[str, list[JsonDict]]:
    """The request message edited in place: a checklist per host and the overall state; for
    more than FEW_HOSTS hosts, the request's live status: a tally and one line per host with
    the step it is on (the projector edits it at most once per second)."""
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
    if len(request.change.hosts) > FEW_HOSTS:
        grid, tally = grid_blocks(request.change.hosts, results, plan_steps)
        body.extend(grid)
        outcomes.append(re.sub(r"[*]", "", tally))
    for host in request.change.hosts if len(request.change.hosts) <= FEW_HOSTS else ():
        steps = merged_steps(plan_steps.get(host) or (), results.get(host) or (), host)
        emoji, words = host_outcome(steps)
        outcomes.append(f"{host} {words}")
        lines = [f"{emoji} *{esc(host)}* — {esc(words)}", *(step_line(s) for s in steps)]
        body.append(section("\n".join(lines)))
    if state == State.FAILED:
        body.append(context(f"Retry: `{SLASH} retry {request.id}`" + retry_hint(request)))
    if state == State.CANCELLED and request.reason:
        # the runner's words: which step was running, stopped or finished, the host's state
        body.append(context(f"🚫 {esc(first_line(request.reason, 1200))}"))
    text = f"{request.id} {change_summary(request.change)}: {state.value}. " + "; ".join(outcomes)
    return clip(text, MAX_FALLBACK), fit(body, [])


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
    if result.data.get("changed"):  # drift: one thing, one next step (no retry, no error dump)
        line = f"🔄 {result.host} · {result.step_id}: {result.error or result.summary}"
        if result.hint:
            line += f" — {result.hint}"
        line = esc(clip_plain(line, MAX_FALLBACK))
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
    """The final thread message, broadcast to the channel: mentions the requester, per-host
    outcome, how to retry; for a denied request who denied it and why."""
    state = request.state
    emoji = STATE_EMOJI.get(state, "")
    head = f"<@{esc(requester_id)}> {emoji} *{request.id}* {esc(change_summary(request.change))}"
    head += f": *{state.value.replace('_', ' ')}*"
    lines: list[str] = []
    failed_steps: list[str] = []
    if state == State.DENIED:  # nothing ran: who denied it and why is the whole answer
        body = [section(head), section(decision_line(request))]
        text = f"<@{requester_id}> {request.id} {change_summary(request.change)}: denied"
        return clip(text, MAX_FALLBACK), fit(body, [])
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
    body = [section(head), *(packed_sections(lines, 40) if lines else [section("No hosts.")])]
    text = f"<@{requester_id}> {request.id} {change_summary(request.change)}: {state.value}"
    if state == State.FAILED:
        step = request.stopped_at or (failed_steps[0] if failed_steps else None)
        retry = f"`{SLASH} retry {request.id}` continues from the failed step"
        if step:
            retry += f"; `{SLASH} retry {request.id} --from {esc(step)}` picks the step"
        body.append(context(retry + "."))
        text += f" — retry with {SLASH} retry {request.id}"
    return clip(text, MAX_FALLBACK), fit(body, [])


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
