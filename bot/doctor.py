"""``cloudsync doctor``: what the bot's Slack installation lacks, said before a user trips on it.

It asks Slack, with the bot's own token: ``auth.test`` (is the token valid; which scopes it holds,
named in the ``x-oauth-scopes`` header of every Web API answer,
https://docs.slack.dev/authentication/tokens) and ``conversations.info`` for each policy channel
(``is_member``: was the bot invited, https://docs.slack.dev/reference/methods/conversations.info).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from workers.domain.config import Config

# chat:write posts cards and answers; commands receives /cloudsync; channels:read lets doctor
# and the slash command see whether the bot is in a channel (groups:read: private channels).
BASE_SCOPES = ("chat:write", "commands", "channels:read")
GROUP_SCOPE = "usergroups:read"  # only when the policy names Slack user groups
# `/cloudsync logs HOST` uploads its archive (files.getUploadURLExternal and
# files.completeUploadExternal need it: https://docs.slack.dev/reference/methods/files.getUploadURLExternal)
LOGS_SCOPE = "files:write"


@dataclass
class Diagnosis:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def needed_scopes(config: Config) -> list[str]:
    policy = config.policy
    groups = set(policy.requester_groups) | set(policy.reader_groups or ())
    for rule in policy.approvers:
        groups.update(rule.groups)
    return [*BASE_SCOPES, *([GROUP_SCOPE] if groups else []), LOGS_SCOPE]


def policy_channels(config: Config) -> list[str]:
    """The channels requests may come from (the policy's, else the directory's)."""
    return list(config.policy.channels or config.channels)


def _error(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return str(data.get("error") or f"http_{exc.response.status_code}")


def diagnose(client: WebClient, config: Config) -> Diagnosis:
    out = Diagnosis()
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        out.problems.append(
            f"auth.test refused the bot token ({_error(exc)}): set SLACK_BOT_TOKEN to the app's "
            "current Bot User OAuth Token (xoxb-...), reinstalling the app if it was revoked."
        )
        return out
    out.notes.append(f"token ok: bot {auth.get('user')} in workspace {auth.get('team')}")
    header = (auth.headers or {}).get("x-oauth-scopes") or (auth.headers or {}).get(
        "X-OAuth-Scopes"
    )
    held = {s.strip() for s in str(header or "").split(",") if s.strip()}
    missing = [s for s in needed_scopes(config) if s not in held]
    if header is None:
        out.notes.append("Slack did not name the token's scopes (no x-oauth-scopes header)")
    elif missing:
        out.problems.append(
            f"scopes missing: {', '.join(missing)}; add them under OAuth & Permissions and "
            "reinstall the app"
        )
    out.problems += _channel_problems(client, policy_channels(config), config)
    return out


def _channel_problems(client: WebClient, channels: Iterable[str], config: Config) -> list[str]:
    problems = []
    for channel in channels:
        name = config.channels.get(channel, channel)
        try:
            info = client.conversations_info(channel=channel).get("channel") or {}
        except SlackApiError as exc:
            error = _error(exc)
            if error == "channel_not_found":
                problems.append(
                    f"#{name} ({channel}): not found; a private channel the bot is not in looks "
                    "like this: type `/invite @cloudsync` in it, or fix the id in policy.yaml"
                )
            else:
                problems.append(f"#{name} ({channel}): conversations.info failed ({error})")
            continue
        if info.get("is_archived"):
            problems.append(f"#{name} ({channel}): archived; unarchive it or change policy.yaml")
        elif not info.get("is_member"):
            problems.append(
                f"#{name} ({channel}): the bot is not a member; type `/invite @cloudsync` in it"
            )
    return problems


def report(diagnosis: Diagnosis) -> str:
    lines = [f"ok: {n}" for n in diagnosis.notes]
    lines += [f"PROBLEM: {p}" for p in diagnosis.problems]
    lines.append("all good" if diagnosis.ok else f"{len(diagnosis.problems)} problem(s) found")
    return "\n".join(lines)
