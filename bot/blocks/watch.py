"""The fleet watch in Slack: a change notice (what changed, since when, the next action with a
button), the ``watch status`` answer and App Home's compact fleet section. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.blocks.kit import (
    MAX_LONG_TEXT,
    SLASH,
    JsonDict,
    button,
    clip,
    clip_plain,
    context,
    esc,
    header,
    section,
    slack_date,
    utc,
)

RESTART_ACTION = "watch_restart"
CHECK_ACTION = "watch_check"

_WHAT = {
    "agent_stopped": ":red_circle: The provisioning agent on *{host}* stopped ({old} → {new})",
    "agent_service_changed": ":warning: The provisioning agent service on *{host}* is {new}",
    "agent_started": ":large_green_circle: Recovered: the agent on *{host}* runs again",
    "agent_installed": ":information_source: *{host}* has an agent now (its service is {new})",
    "updater_stopped": ":warning: The Agent Updater on *{host}* stopped ({new})",
    "updater_changed": ":warning: The Agent Updater on *{host}* is {new}",
    "updater_started": ":large_green_circle: The Agent Updater on *{host}* runs again",
    "version_changed": ":information_source: The agent on *{host}* changed version: {old} → {new}",
    "unreachable": ":red_circle: *{host}* is unreachable over WinRM",
    "reachable": ":large_green_circle: *{host}* is reachable again",
}
_NEXT = {
    "agent_stopped": "restart the agent (approval needed) or check the host first",
    "agent_service_changed": "check the host, then restart the agent if it stays so",
    "updater_stopped": (
        "check the host; start the updater on the server (`Set-Service -StartupType Automatic`, "
        "`Start-Service`): restart restarts the agent only"
    ),
    "updater_changed": "check the host",
    "version_changed": "nothing if the updater upgraded it; check the host to see its state",
    "unreachable": "check that the server is up and WinRM answers, then check the host",
}


def _words(value: Any) -> str:
    return esc(clip_plain(str(value or "-"), 60))


def _host_buttons(kind: str, host: str) -> list[JsonDict]:
    if kind in ("agent_stopped", "agent_service_changed"):
        return [
            button("Restart the agent", RESTART_ACTION, host, style="primary"),
            button("Check", CHECK_ACTION, host),
        ]
    if kind in ("updater_stopped", "updater_changed", "version_changed", "unreachable"):
        return [button("Check", CHECK_ACTION, host)]
    return []


def watch_notice(data: Mapping[str, Any]) -> tuple[str, list[JsonDict]]:
    """One change notice for the channel, from a ``watch_change`` event's data."""
    kind = str(data.get("kind", ""))
    since = slack_date(float(data.get("since") or 0.0))
    if not data.get("host"):
        return _tenant_notice(data, kind, since)
    host = str(data.get("host", ""))
    line = _WHAT.get(kind, ":information_source: {host} changed").format(
        host=esc(host), old=_words(data.get("old")), new=_words(data.get("new"))
    )
    text = f"{line} since {since}."
    blocks: list[JsonDict] = [section(text)]
    details: list[str] = []
    reason = data.get("reason")
    if kind == "unreachable" and reason:
        details.append(f"Last error: {_words(reason)}")
    for event in list(data.get("errors") or [])[:1]:
        message = esc(clip_plain(str(event.get("message", "")), 200))
        details.append(
            f"Newest error in the agent's Admin event log: {esc(str(event.get('id', '')))} at "
            f"{esc(str(event.get('at', '')))}: {message}"
        )
    if kind in _NEXT:
        details.append(f"Next: {_NEXT[kind]}.")
    if details:
        blocks.append(context("\n".join(details)))
    buttons = _host_buttons(kind, host)
    if buttons:
        blocks.append({"type": "actions", "block_id": f"watch:{host}:{kind}", "elements": buttons})
    return text, blocks


def _tenant_notice(data: Mapping[str, Any], kind: str, since: str) -> tuple[str, list[JsonDict]]:
    tenant = esc(str(data.get("tenant", "")))
    healthy, needed = int(data.get("healthy") or 0), int(data.get("needed") or 0)
    names = ", ".join(esc(str(h)) for h in data.get("healthy_hosts") or []) or "none"
    if kind == "tenant_below":
        text = (
            f":rotating_light: Tenant *{tenant}* has {healthy} healthy agent"
            f"{'' if healthy == 1 else 's'}, fewer than the {needed} the policy asks for, "
            f"since {since} (healthy: {names})."
        )
        nxt = (
            "Next: restart a stopped agent from its notice, or install another agent "
            f"(`{SLASH} install HOST --domain FQDN`); Microsoft recommends three per tenant."
        )
        return text, [section(text), context(nxt)]
    text = (
        f":large_green_circle: Tenant *{tenant}* has {healthy} healthy agents again "
        f"(at least {needed}) since {since}."
    )
    return text, [section(text)]


def _state_words(stable: Mapping[str, str]) -> str:
    if stable.get("reach") == "unreachable":
        return "unreachable"
    service = stable.get("service", "absent")
    if service == "absent":
        return "no agent"
    parts = [f"agent {service}"]
    if stable.get("version") not in (None, "absent"):
        parts.append(str(stable["version"]))
    if stable.get("updater") not in (None, "absent", "Running"):
        parts.append(f"updater {stable['updater']}")
    return ", ".join(parts)


def _icon(stable: Mapping[str, str]) -> str:
    if stable.get("reach") == "unreachable":
        return "🔴"
    if stable.get("service") == "Running":
        return "⚠️" if stable.get("updater") not in (None, "Running") else "✅"
    return "⚪" if stable.get("service") in (None, "absent") else "🔴"


def host_lines(
    hosts: Mapping[str, Any], paused: Mapping[str, Mapping[str, Any]], names: list[str]
) -> list[str]:
    """One line per host: its last state (the damped one), since when, paused by whom."""
    lines: list[str] = []
    for name in names:
        watch = hosts.get(name)
        if watch is None:
            line = f"• {esc(name)}: not read yet"
        else:
            stable = watch.stable
            since = max((watch.since.get(a, 0.0) for a in stable), default=0.0)
            line = f"• {_icon(stable)} {esc(name)}: {esc(_state_words(stable))} since {utc(since)}"
            if watch.logon and stable.get("service") not in (None, "absent"):
                line += f", logon {esc(clip_plain(str(watch.logon), 60))}"
            if watch.pending:
                line += " (a change is being confirmed)"
        if name in paused:
            who = esc(str(paused[name].get("by", "")))
            line += f" — watch paused by <@{who}> at {utc(float(paused[name].get('at') or 0))}"
        lines.append(line)
    return lines


def watch_status_text(
    hosts: Mapping[str, Any],
    paused: Mapping[str, Mapping[str, Any]],
    tenants: Mapping[str, Any],
    inventory: list[str],
    needed: int,
) -> str:
    """`/cloudsync watch status`: every inventory host's last state, then each tenant's count.
    Paused hosts (by whom, since when) are listed even before the first read: a pause is the
    answer to "why is this host not watched" whether or not a round ran yet."""
    if not hosts:
        lines = [
            ":eyes: The fleet watch has not read the fleet yet (it reads every "
            "CLOUDSYNC_WATCH_INTERVAL seconds; the first read sets the baseline)."
        ]
        lines += host_lines(hosts, paused, [h for h in inventory if h in paused])
        return clip("\n".join(lines), MAX_LONG_TEXT)
    lines = [":eyes: *Fleet watch* (a change is posted once it held for two reads):"]
    lines += host_lines(hosts, paused, inventory)
    for name, tenant in sorted(tenants.items()):
        mark = "🔴 below" if tenant.below else "✅"
        lines.append(
            f"Tenant {esc(name)}: {tenant.healthy} healthy agent(s), the policy asks for "
            f"{needed} {mark}"
        )
    return clip("\n".join(lines), MAX_LONG_TEXT)


def fleet_home_blocks(
    hosts: Mapping[str, Any], paused: Mapping[str, Mapping[str, Any]], limit: int
) -> list[JsonDict]:
    """App Home's compact fleet section (at most ``limit`` blocks; several hosts per block)."""
    if limit < 3:
        return []
    out: list[JsonDict] = [header("Fleet")]
    if not hosts:
        out.append(context("The fleet watch has not read the fleet yet."))
        return out
    lines = host_lines(hosts, paused, sorted(hosts))
    chunk: list[str] = []
    for line in lines:
        if sum(len(c) + 1 for c in chunk) + len(line) > 2800:
            out.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        out.append(section("\n".join(chunk)))
    if len(out) > limit:
        out = [*out[: limit - 1], context(f"More: `{SLASH} watch status` lists every host.")]
    return out
