"""The command table and help text (Slack mrkdwn), shared with the parser's error messages.

One table (``USAGES``: form, example, summary per command) feeds ``help``, ``help COMMAND`` and
every usage error in ``bot.grammar``, so they cannot drift apart; the tests parse every example.
"""

from __future__ import annotations

from dataclasses import dataclass

SLASH = "/cloudsync"


# --- the command table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    form: str
    example: str
    summary: str


USAGES: dict[str, Usage] = {
    "install": Usage(
        "install HOST|tag:TAG[,HOST...] --domain FQDN[:DC1,DC2] [--domain ...] [--gmsa NAME] "
        "[--cloud public|usgov] [--writeback] [--permissions TYPE[,TYPE]]",
        "install SYNC01,SYNC02 --domain contoso.com:dc1.contoso.com --writeback",
        "install the cloud sync agent and register it (needs approval); tag:TAG names the "
        "inventory hosts with that tag now (the request keeps their names)",
    ),
    "plan": Usage(
        "plan install|writeback|domain|permissions|restart|proxy ARGS...  (the change's own "
        "arguments)",
        "plan install SYNC01 --domain contoso.com",
        "show the steps and scripts a change would run, without requesting it",
    ),
    "writeback": Usage(
        "writeback enable|disable --host HOST",
        "writeback enable --host SYNC01",
        "turn password writeback on or off for the tenant, run on one host with an agent",
    ),
    "domain": Usage(
        "domain add HOST --domain FQDN[:DC1,DC2] [--domain ...]",
        "domain add SYNC01 --domain fabrikam.com:dc1.fabrikam.com",
        "register another AD domain with an installed agent (needs approval)",
    ),
    "permissions": Usage(
        "permissions HOST --type TYPE[,TYPE] [--domain FQDN]",
        "permissions SYNC01 --type BasicRead,PasswordHashSync --domain contoso.com",
        "grant the gMSA its AD permissions (forest-wide without --domain)",
    ),
    "restart": Usage(
        "restart HOST[,HOST...]",
        "restart SYNC01",
        "restart the provisioning agent service (needs approval)",
    ),
    "proxy": Usage(
        "proxy set HOST[,HOST...] --url http://HOST:PORT [--bypass HOST,*.DOMAIN,IP] | "
        "proxy clear HOST[,HOST...]",
        "proxy set SYNC01 --url http://proxy.contoso.com:8080 --bypass *.contoso.com",
        "set or remove the agent's outbound proxy, then restart it (needs approval)",
    ),
    "check": Usage("check HOST", "check SYNC01", "run the read-only preflight checks on a host"),
    "agents": Usage("agents", "agents", "list every host with its agent version and service"),
    "watch": Usage(
        "watch status|pause HOST|resume HOST",
        "watch pause SYNC01",
        "the fleet watch: every host's last agent state, or stop/restart watching one host",
    ),
    "logs": Usage(
        "logs HOST [--since 30m|24h|7d]",
        "logs SYNC01 --since 24h",
        "upload the agent's recent trace files and Admin errors, secrets masked (read-only)",
    ),
    "status": Usage("status [ID]", "status CS-0001", "show a request (or the latest ones)"),
    "list": Usage(
        "list [--pending] [--mine]", "list --pending", "list requests, optionally filtered"
    ),
    "cancel": Usage("cancel ID", "cancel CS-0001", "cancel a pending or running request"),
    "retry": Usage(
        "retry ID [--from STEP]",
        "retry CS-0001 --from install",
        "run a failed request again, from where it stopped or from STEP",
    ),
    "help": Usage("help [COMMAND]", "help install", "show this help, or one command's help"),
}
CHANGE_COMMANDS = ("install", "writeback", "domain", "permissions", "restart", "proxy")


def usage_block(topic: str) -> str:
    """The two-line usage shown after every error: the form and one example."""
    usage = USAGES[topic]
    return f"Usage: `{SLASH} {usage.form}`\nExample: `{SLASH} {usage.example}`"


STEP_NOTE = (
    "Steps for `retry --from`: preflight, stage, install, import, connect, gmsa, "
    "domain:FQDN, permissions, restart, writeback, verify (proxy: proxy_backup, proxy)."
)
APPROVAL_NOTE = (
    "Changes (install, writeback, domain add, permissions, restart, proxy) post a request card: "
    "a different approver approves or denies it with the buttons (or from the App Home tab); "
    "the requester can never approve their own request."
)
TOPIC_NOTES: dict[str, str] = {
    "install": (
        "Hosts are inventory names, comma-separated (at most 10). Repeat `--domain` for each "
        "AD domain; preferred DCs follow a colon. `--gmsa` uses your own gMSA (the permissions "
        "step is then always run; `--permissions` picks the types). `--cloud usgov` for "
        "Azure US Government."
    ),
    "writeback": "Tenant-wide: run once, on any one host that already has the agent.",
    "permissions": (
        "Types: BasicRead, PasswordHashSync, PasswordWriteBack, HybridExchangePermissions, "
        "ExchangeMailPublicFolderPermissions, UserGroupCreateDelete, All. Without `--domain` "
        "the permissions are set forest-wide with Enterprise Admin credentials."
    ),
    "cancel": (
        "A pending request is cancelled at once. A running one stops between steps, and the "
        "step it is on is stopped, except the installer: an installer is not stopped mid-way "
        "(one cut off half-way can leave a broken install), so the run waits for it to finish, "
        "then stops. The thread says which step was running, whether it was stopped or ran to "
        "completion (and how long it took), what state the host is in and what to do next. A "
        "cancelled request is final: submit a new one (its checks skip what is already done)."
    ),
    "retry": STEP_NOTE,
    "plan": "Nothing is run and nothing is requested; the scripts show secrets only by name.",
    "watch": (
        "The watch reads every host's agent on an interval and posts a change once it held for "
        "two reads (the first read is a quiet baseline). `status` is for readers; `pause` and "
        "`resume` for the host's approvers (audited): a paused host is not read."
    ),
    "logs": (
        "Collects the newest trace files written within `--since` (default 24h, at most 7d) "
        "and the Admin channel's errors and warnings, keeping the newest lines up to a size "
        "bound (the message says what was cut), masks every secret the bot knows and uploads "
        "a zip to this channel. No approval; rate-limited like `check`."
    ),
    "proxy": (
        "Edits the agent's AADConnectProvisioningAgent.exe.config (a backup is kept beside it) "
        "and restarts the agent. The URL is http://host:port (the agent cannot use an "
        "https:// proxy), without a user or password (the agent signs in to the proxy as its "
        "own account). `--bypass` names hosts, IPv4 "
        "addresses or *.domain, comma-separated; local names always bypass the proxy."
    ),
}


def help_text(topic: str | None = None) -> str:
    """The overview (topic None) or one command's help, each with an example."""
    if topic is not None and topic in USAGES:
        usage = USAGES[topic]
        lines = [f"*{SLASH} {topic}*: {usage.summary}", usage_block(topic)]
        if topic in TOPIC_NOTES:
            lines.append(TOPIC_NOTES[topic])
        return "\n".join(lines)
    lines = [f"*{SLASH}*: install and manage the Entra cloud sync agent."]
    for usage in USAGES.values():
        lines.append(
            f"• `{SLASH} {usage.form}`\n    {usage.summary}, e.g. `{SLASH} {usage.example}`"
        )
    lines.append(APPROVAL_NOTE)
    lines.append(f"`{SLASH} help COMMAND` shows one command in detail.")
    return "\n".join(lines)
