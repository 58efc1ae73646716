"""``cloudsync doctor``: what the bot's Slack installation lacks, said before a user trips on it.

It asks Slack, with the bot's own token: ``auth.test`` (is the token valid; which scopes it holds,
named in the ``x-oauth-scopes`` header of every Web API answer,
https://docs.slack.dev/authentication/tokens) and ``conversations.info`` for each policy channel
and the fleet watch's channel (``is_member``: was the bot invited,
https://docs.slack.dev/reference/methods/conversations.info).

Exit codes: 0 all good, 1 problems found, 2 could not check (no token, Slack unreachable or
answering with a server error), so a script can tell "fix the app" from "try again".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from workers.domain.config import Config
from workers.watch.round import watch_channel

# chat:write posts cards and answers; commands receives /cloudsync; channels:read lets doctor
# and the slash command see whether the bot is in a channel (groups:read: private channels).
BASE_SCOPES = ("chat:write", "commands", "channels:read")
GROUP_SCOPE = "usergroups:read"  # only when the policy names Slack user groups
# `/cloudsync logs HOST` uploads its archive (files.getUploadURLExternal and
# files.completeUploadExternal need it: https://docs.slack.dev/reference/methods/files.getUploadURLExternal)
LOGS_SCOPE = "files:write"
# What each scope is for, as doctor names it next to the scope.
SCOPE_USES = {
    "chat:write": "approval cards and answers",
    "commands": "the /cloudsync command",
    "channels:read": "seeing whether the bot is in a channel",
    GROUP_SCOPE: "the policy's Slack user groups",
    LOGS_SCOPE: "`/cloudsync logs` uploads",
}
# Slack answers 429 when rate limited and 5xx when it fails itself
# (https://docs.slack.dev/apis/web-api/rate-limits): doctor could not check (exit 2); any other
# refusal (invalid_auth, token_revoked, missing_scope...) is a problem to fix (exit 1).
EXIT_OK, EXIT_PROBLEMS, EXIT_UNCHECKED = 0, 1, 2


@dataclass
class Diagnosis:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unchecked

    @property
    def exit_code(self) -> int:
        """1 when anything is wrong (even if something else could not be checked), else 2 when
        something could not be checked, else 0."""
        if self.problems:
            return EXIT_PROBLEMS
        return EXIT_UNCHECKED if self.unchecked else EXIT_OK


def needed_scopes(config: Config) -> list[str]:
    policy = config.policy
    groups = set(policy.requester_groups) | set(policy.reader_groups or ())
    for rule in policy.approvers:
        groups.update(rule.groups)
    return [*BASE_SCOPES, *([GROUP_SCOPE] if groups else []), LOGS_SCOPE]


def policy_channels(config: Config) -> list[str]:
    """The channels requests may come from (the policy's, else the directory's)."""
    return list(config.policy.channels or config.channels)


def checked_channels(config: Config) -> dict[str, list[str]]:
    """Each channel doctor checks, with what the bot uses it for: the request channels and the
    fleet watch's (docs/fleet.md: the bot must be invited there too)."""
    uses: dict[str, list[str]] = {c: ["requests"] for c in policy_channels(config)}
    watch = watch_channel(config)
    if watch:
        uses.setdefault(watch, []).append("fleet watch notices")
    return uses


@contextmanager
def quiet_slack_sdk() -> Iterator[None]:
    """slack_sdk logs each failed call and retry itself (JSON lines through our handler); doctor
    says what failed in its own words, so the SDK's lines are held back while it runs."""
    logger = logging.getLogger("slack_sdk")
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def _error(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return str(data.get("error") or f"http_{exc.response.status_code}")


def _transient(exc: SlackApiError) -> bool:
    status = int(exc.response.status_code or 0)
    return status == 429 or status >= 500


def _scope_list(scopes: list[str]) -> str:
    return ", ".join(f"{s} ({SCOPE_USES[s]})" if s in SCOPE_USES else s for s in scopes)


def diagnose(client: WebClient, config: Config) -> Diagnosis:
    out = Diagnosis()
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        error = _error(exc)
        if _transient(exc):
            out.unchecked.append(f"auth.test failed ({error}); nothing else was checked")
        else:
            out.problems.append(
                f"auth.test refused the bot token ({error}): set SLACK_BOT_TOKEN to the app's "
                "current Bot User OAuth Token (xoxb-...), reinstalling the app if it was revoked."
            )
        return out
    out.notes.append(f"the token works: bot {auth.get('user')} in workspace {auth.get('team')}")
    header = (auth.headers or {}).get("x-oauth-scopes") or (auth.headers or {}).get(
        "X-OAuth-Scopes"
    )
    held = {s.strip() for s in str(header or "").split(",") if s.strip()}
    needed = needed_scopes(config)
    missing = [s for s in needed if s not in held]
    if header is None:
        out.unchecked.append(
            f"scopes: Slack did not name the token's scopes (no x-oauth-scopes header); "
            f"needed: {_scope_list(needed)}"
        )
    else:
        present = [s for s in needed if s in held]
        if present:
            out.notes.append(f"scopes held: {_scope_list(present)}")
        if missing:
            out.problems.append(
                f"scopes missing: {_scope_list(missing)}; add them under OAuth & Permissions "
                "and reinstall the app"
            )
    for channel, uses in checked_channels(config).items():
        _check_channel(client, channel, uses, config, out)
    return out


def _check_channel(
    client: WebClient, channel: str, uses: list[str], config: Config, out: Diagnosis
) -> None:
    label = f"#{config.channels.get(channel, channel)} ({channel})"
    used = f" (used for {', '.join(uses)})"
    try:
        info = client.conversations_info(channel=channel).get("channel") or {}
    except SlackApiError as exc:
        error = _error(exc)
        if error == "channel_not_found":
            out.problems.append(
                f"{label}: not found; a private channel the bot is not in looks like this: type "
                f"`/invite @cloudsync` in it, or fix the id in policy.yaml{used}"
            )
        elif _transient(exc):
            out.unchecked.append(f"{label}: conversations.info failed ({error}){used}")
        else:
            out.problems.append(f"{label}: conversations.info failed ({error}){used}")
        return
    if info.get("is_archived"):
        out.problems.append(f"{label}: archived; unarchive it or change policy.yaml{used}")
    elif not info.get("is_member"):
        out.problems.append(
            f"{label}: the bot is not a member; type `/invite @cloudsync` in it{used}"
        )
    else:
        out.notes.append(f"{label}: the bot is a member{used}")


def report(diagnosis: Diagnosis) -> str:
    lines = [f"ok: {n}" for n in diagnosis.notes]
    lines += [f"PROBLEM: {p}" for p in diagnosis.problems]
    lines += [f"NOT CHECKED: {u}" for u in diagnosis.unchecked]
    if diagnosis.ok:
        lines.append("all good")
    else:
        counts = []
        if diagnosis.problems:
            counts.append(f"{len(diagnosis.problems)} problem(s) found")
        if diagnosis.unchecked:
            counts.append(f"{len(diagnosis.unchecked)} check(s) could not be made")
        lines.append("; ".join(counts))
    return "\n".join(lines)
