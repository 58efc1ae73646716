"""``/cloudsync ...`` text -> a typed command, or a usage error that names the problem.

Pure: no Slack, no Redis. Every value that ends up in a ``ChangeSpec`` goes through
``workers.domain.validation`` here, so nothing unvalidated is ever stored or planned. Any input,
however odd, yields a ``Command`` or a ``UsageError``: ``parse`` never raises.

``UsageError.message`` is Slack mrkdwn that is safe to post as-is: every echoed piece of user
input is shortened and has ``& < >`` escaped, so a typed ``<!channel>`` cannot ping anyone.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.help import CHANGE_COMMANDS, SLASH, USAGES, Usage, help_text, usage_block
from workers.domain.model import ChangeKind, ChangeSpec, Cloud, DomainSpec
from workers.domain.validation import (
    ValidationError,
    validate_bypass,
    validate_dc,
    validate_domain,
    validate_gmsa,
    validate_host_name,
    validate_permission_type,
    validate_proxy_url,
    validate_request_id,
)
from workers.runbook.steps import ORDER as RUNBOOK_ORDER
from workers.runbook.steps import PROXY_ORDER
from workers.runbook.trace_logs import DEFAULT_SINCE, parse_since

MAX_HOSTS = 10
MAX_DOMAINS = 10
MAX_DCS = 10
MAX_TEXT = 2000  # longer slash-command text is refused before tokenising
KNOWN_HOSTS_SHOWN = 10
# the runbook's step ids in order (retry --from); domain:FQDN is parsed on its own
STEP_IDS = tuple(step for step in RUNBOOK_ORDER if step != "domain")
PROXY_STEP_IDS = tuple(step for step in PROXY_ORDER if step not in STEP_IDS)  # proxy set/clear


# --- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A change that needs approval (install, writeback, domain add, permissions, restart)."""

    change: ChangeSpec


@dataclass(frozen=True)
class Plan:
    """Show what a change would do, without requesting it."""

    change: ChangeSpec


@dataclass(frozen=True)
class Check:
    host: str


@dataclass(frozen=True)
class Agents:
    pass


@dataclass(frozen=True)
class Status:
    request_id: str | None = None


@dataclass(frozen=True)
class List:
    pending: bool = False
    mine: bool = False


@dataclass(frozen=True)
class Cancel:
    request_id: str


@dataclass(frozen=True)
class Retry:
    request_id: str
    from_step: str | None = None


@dataclass(frozen=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True)
class Watch:
    """The fleet watch: ``status`` (a read), ``pause HOST`` / ``resume HOST`` (approvers)."""

    action: str
    host: str | None = None


@dataclass(frozen=True)
class Logs:
    """Upload the agent's recent trace files and Admin errors of one host (read-only)."""

    host: str
    since_s: int = 24 * 3600


@dataclass(frozen=True)
class UsageError:
    """What was wrong, plus the usage line and an example of the right form (mrkdwn)."""

    message: str
    topic: str | None = None


Command = Change | Plan | Check | Agents | Status | List | Cancel | Retry | Help | Watch | Logs


ALIASES = {"ls": "list", "?": "help", "approve": "", "deny": ""}  # "" = explain, do not run
__all__ = [  # the parser's API, plus the help table re-exported for the listeners
    "CHANGE_COMMANDS",
    "MAX_HOSTS",
    "SLASH",
    "STEP_IDS",
    "USAGES",
    "Agents",
    "Cancel",
    "Change",
    "Check",
    "Command",
    "Help",
    "List",
    "Logs",
    "Plan",
    "Retry",
    "Status",
    "Usage",
    "UsageError",
    "Watch",
    "help_text",
    "parse",
    "usage_block",
]


# --- small helpers ------------------------------------------------------------------------------


class _Fail(Exception):
    """Internal: carries a usage error out of the nested parsing helpers."""

    def __init__(self, problem: str, topic: str | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.topic = topic


def escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _echo(token: str) -> str:
    """User input shown back: shortened, control characters dropped, mrkdwn-escaped."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in token)
    if len(clean) > 40:
        clean = clean[:37] + "..."
    return "'" + escape(clean).replace("`", "'") + "'"


def _validated(fn: Callable[[str], str], value: str, topic: str) -> str:
    try:
        return fn(value)
    except ValidationError as exc:
        # the message quotes the value: no backtick from it may open a code span
        raise _Fail(escape(str(exc)).replace("`", "'"), topic) from None


_DASHES = ("\u2014", "\u2013", "\u2012", "\u2212")  # em/en/figure dash, minus (autocorrect)
_SLACK_LINK = re.compile(r"^<(?:[a-z]+:(?://)?)?([^<>|]*)(?:\|([^<>]*))?>$")


def _normalise(token: str) -> str:
    """Undo what Slack clients do to typed text: autocorrected dashes and auto-linked names."""
    for dash in _DASHES:
        if token.startswith(dash):
            token = "--" + token[len(dash) :]
            break
    match = _SLACK_LINK.match(token)
    if match:
        token = match.group(2) or match.group(1)
    return token


def _tokens(text: str) -> list[str]:
    return [_normalise(t) for t in text.split()]


@dataclass
class _Args:
    """Tokens of one subcommand split into positionals and options, with duplicates refused."""

    topic: str
    positionals: list[str] = field(default_factory=list)
    options: dict[str, list[str | None]] = field(default_factory=dict)

    def single(self, name: str) -> str | None:
        values = self.options.get(name)
        if not values:
            return None
        value = values[0]
        if value is None:
            raise _Fail(f"`--{name}` needs a value.", self.topic)
        return value

    def many(self, name: str) -> list[str]:
        out: list[str] = []
        for value in self.options.get(name, []):
            if value is None:
                raise _Fail(f"`--{name}` needs a value.", self.topic)
            out.append(value)
        return out

    def flag(self, name: str) -> bool:
        return name in self.options


@dataclass(frozen=True)
class _Spec:
    """Which options a subcommand takes: value options, repeatable ones, flags."""

    values: frozenset[str] = frozenset()
    repeatable: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()

    @property
    def all(self) -> frozenset[str]:
        return self.values | self.repeatable | self.flags


_SPECS: dict[str, _Spec] = {
    "install": _Spec(
        values=frozenset({"gmsa", "cloud", "permissions"}),
        repeatable=frozenset({"domain"}),
        flags=frozenset({"writeback"}),
    ),
    "writeback": _Spec(values=frozenset({"host"})),
    "domain": _Spec(repeatable=frozenset({"domain"})),
    "permissions": _Spec(values=frozenset({"type", "domain"})),
    "restart": _Spec(),
    "check": _Spec(),
    "agents": _Spec(),
    "status": _Spec(),
    "list": _Spec(flags=frozenset({"pending", "mine"})),
    "cancel": _Spec(),
    "retry": _Spec(values=frozenset({"from"})),
    "help": _Spec(),
    "watch": _Spec(),
    "logs": _Spec(values=frozenset({"since"})),
    "proxy": _Spec(values=frozenset({"url", "bypass"})),
}


def _split_args(topic: str, tokens: list[str]) -> _Args:
    spec = _SPECS[topic]
    args = _Args(topic)
    pending = list(tokens)
    i = 0
    while i < len(pending):
        token = pending[i]
        i += 1
        if not token.startswith("-") or token == "-":
            args.positionals.append(token)
            continue
        name, eq, inline = token.lstrip("-").partition("=")
        name = name.lower()
        if not name:
            raise _Fail(f"{_echo(token)} is not an option.", topic)
        if name not in spec.all:
            allowed = ", ".join(f"`--{o}`" for o in sorted(spec.all)) or "no options"
            raise _Fail(
                f"`{SLASH} {topic}` has no option {_echo('--' + name)} (it takes {allowed}).",
                topic,
            )
        if name in args.options and name not in spec.repeatable:
            raise _Fail(f"`--{name}` is given more than once; give it once.", topic)
        value: str | None
        if name in spec.flags:
            if eq:
                raise _Fail(f"`--{name}` is a switch and takes no value.", topic)
            value = ""
        elif eq:
            value = inline or None
        elif i < len(pending) and not pending[i].startswith("--"):
            value = pending[i]
            i += 1
        else:
            value = None
        args.options.setdefault(name, []).append(value)
    return args


def _no_positionals(args: _Args, allowed: int = 0) -> None:
    extra = args.positionals[allowed:]
    if extra:
        raise _Fail(f"Unexpected {_echo(extra[0])}.", args.topic)


# --- value parsers ------------------------------------------------------------------------------


TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


class _HostIndex(dict[str, str]):
    """Known host names by their upper-case form, with the inventory tags (tag -> hosts) a
    request may name instead (``tag:prod``) and how many hosts a request may hold."""

    def __init__(
        self,
        known_hosts: Collection[str],
        tags: Mapping[str, Sequence[str]] | None = None,
        limit: int = MAX_HOSTS,
    ) -> None:
        super().__init__({str(h).upper(): str(h) for h in known_hosts})
        self.tags = {str(t).lower(): tuple(hs) for t, hs in (tags or {}).items()}
        self.limit = max(MAX_HOSTS, limit) if tags is not None else MAX_HOSTS


def _host_index(
    known_hosts: Collection[str],
    tags: Mapping[str, Sequence[str]] | None = None,
    limit: int = MAX_HOSTS,
) -> _HostIndex:
    return _HostIndex(known_hosts, tags, limit)


def _tag_hosts(part: str, index: dict[str, str], topic: str) -> tuple[str, ...]:
    """The hosts an inventory tag holds, now (the request keeps these names, not the tag)."""
    tag = part[len("tag:") :]
    tags: dict[str, tuple[str, ...]] = getattr(index, "tags", {})
    if not TAG_RE.match(tag):
        raise _Fail(f"{_echo(part)} is not a tag: use tag:NAME (letters, digits, - _ .).", topic)
    if tag.lower() not in tags or not tags[tag.lower()]:
        known = ", ".join(f"tag:{escape(t)}" for t in sorted(tags)[:KNOWN_HOSTS_SHOWN])
        listed = f" Tags: {known}." if known else " No host has a tag."
        raise _Fail(f"No host has the tag {_echo(tag)}.{listed}", topic)
    return tags[tag.lower()]


def _unknown_host(name: str, index: dict[str, str], topic: str) -> _Fail:
    names = sorted(index.values())
    shown = ", ".join(escape(n) for n in names[:KNOWN_HOSTS_SHOWN])
    if len(names) > KNOWN_HOSTS_SHOWN:
        shown += f" and {len(names) - KNOWN_HOSTS_SHOWN} more (`{SLASH} agents` lists them)"
    known = f"Known hosts: {shown}." if names else "No hosts are configured."
    return _Fail(f"Unknown host {_echo(name)}. {known}", topic)


def _one_host(token: str, index: dict[str, str], topic: str) -> str:
    if not token.strip(","):
        raise _Fail("A host name is missing.", topic)
    if "," in token.strip(","):
        raise _Fail(f"`{SLASH} {topic}` takes one host, not a list ({_echo(token)}).", topic)
    name = _validated(validate_host_name, token.strip(","), topic)
    if name not in index:
        raise _unknown_host(token.strip(","), index, topic)
    return index[name]


def _host_list(tokens: list[str], index: dict[str, str], topic: str) -> tuple[str, ...]:
    """Hosts from one or more tokens ("A,B" or "A, B" or "A B"), deduplicated, order kept."""
    raw = [part for token in tokens for part in token.split(",") if part]
    if not raw:
        raise _Fail("Name at least one host.", topic)
    hosts: list[str] = []
    named = 0
    limit: int = getattr(index, "limit", MAX_HOSTS)
    for part in raw:
        if part.lower().startswith("tag:"):
            for host in _tag_hosts(part, index, topic):
                if host not in hosts:
                    hosts.append(host)
        else:
            name = _validated(validate_host_name, part, topic)
            if name not in index:
                raise _unknown_host(part, index, topic)
            named += 1
            if index[name] not in hosts:
                hosts.append(index[name])
            if named > MAX_HOSTS and len(hosts) > MAX_HOSTS:
                raise _Fail(
                    f"At most {MAX_HOSTS} hosts named per request; name a tag "
                    "(`tag:NAME`) for more.",
                    topic,
                )
        if len(hosts) > limit:
            raise _Fail(
                f"At most {limit} hosts per request ({len(hosts)} so far); split it up.", topic
            )
    return tuple(hosts)


def _domain(value: str, topic: str) -> DomainSpec:
    fqdn, colon, dcs = value.partition(":")
    if "," in fqdn:
        raise _Fail(
            f"{_echo(value)}: give each domain its own `--domain` "
            "(domain controllers go after a colon: FQDN:DC1,DC2).",
            topic,
        )
    domain = _validated(validate_domain, fqdn, topic)
    preferred: list[str] = []
    if colon:
        parts = [p for p in dcs.split(",") if p]
        if not parts:
            raise _Fail(
                f"{_echo(value)} has ':' but no domain controllers after it "
                "(use FQDN or FQDN:DC1,DC2).",
                topic,
            )
        for part in parts:
            dc = _validated(validate_dc, part, topic)
            if dc not in preferred:
                preferred.append(dc)
        if len(preferred) > MAX_DCS:
            raise _Fail(f"At most {MAX_DCS} preferred domain controllers per domain.", topic)
    return DomainSpec(fqdn=domain, preferred_dcs=tuple(preferred))


def _domains(values: list[str], topic: str, required: bool) -> tuple[DomainSpec, ...]:
    if required and not values:
        raise _Fail("`--domain` is required: name the AD domain(s) to register.", topic)
    out: list[DomainSpec] = []
    for value in values:
        spec = _domain(value, topic)
        if any(d.fqdn == spec.fqdn for d in out):
            raise _Fail(f"Domain {_echo(spec.fqdn)} is given twice; give it once.", topic)
        out.append(spec)
    if len(out) > MAX_DOMAINS:
        raise _Fail(f"At most {MAX_DOMAINS} domains per request.", topic)
    return tuple(out)


def _permission_types(value: str, topic: str) -> tuple[str, ...]:
    parts = [p for p in value.split(",") if p]
    if not parts:
        raise _Fail("Name at least one permission type.", topic)
    out: list[str] = []
    for part in parts:
        kind = _validated(validate_permission_type, part, topic)
        if kind not in out:
            out.append(kind)
    return tuple(out)


def _cloud(value: str, topic: str) -> Cloud:
    try:
        return Cloud(value.lower())
    except ValueError:
        raise _Fail(f"`--cloud` must be public or usgov, not {_echo(value)}.", topic) from None


def _request_id(args: _Args, required: bool) -> str | None:
    _no_positionals(args, 1)
    if not args.positionals:
        if required:
            raise _Fail("Give the request id.", args.topic)
        return None
    return _validated(validate_request_id, args.positionals[0], args.topic)


def _step(value: str, topic: str) -> str:
    lowered = value.lower()
    if lowered in STEP_IDS or lowered in PROXY_STEP_IDS:
        return lowered
    if lowered.startswith("domain:"):
        return "domain:" + _validated(validate_domain, value[len("domain:") :], topic)
    raise _Fail(
        f"{_echo(value)} is not a step. Steps: {', '.join(STEP_IDS)} or domain:FQDN "
        f"(proxy: {', '.join(PROXY_STEP_IDS)}).",
        topic,
    )


# --- subcommands --------------------------------------------------------------------------------


def _install(args: _Args, index: dict[str, str]) -> ChangeSpec:
    hosts = _host_list(args.positionals, index, "install")
    domains = _domains(args.many("domain"), "install", required=True)
    gmsa_raw = args.single("gmsa")
    gmsa = _validated(validate_gmsa, gmsa_raw, "install") if gmsa_raw is not None else None
    cloud_raw = args.single("cloud")
    cloud = _cloud(cloud_raw, "install") if cloud_raw is not None else Cloud.PUBLIC
    perms_raw = args.single("permissions")
    perms = _permission_types(perms_raw, "install") if perms_raw is not None else ()
    return ChangeSpec(
        kind=ChangeKind.INSTALL,
        hosts=hosts,
        domains=domains,
        gmsa=gmsa,
        cloud=cloud,
        writeback=True if args.flag("writeback") else None,
        permissions=perms,
    )


def _writeback(args: _Args, index: dict[str, str]) -> ChangeSpec:
    if not args.positionals or args.positionals[0].lower() not in ("enable", "disable"):
        got = f" (got {_echo(args.positionals[0])})" if args.positionals else ""
        raise _Fail(f"Say `enable` or `disable`{got}.", "writeback")
    enable = args.positionals[0].lower() == "enable"
    if len(args.positionals) > 1:
        extra = args.positionals[1]
        raise _Fail(f"Unexpected {_echo(extra)}: name the host with `--host HOST`.", "writeback")
    host = args.single("host")
    if host is None:
        raise _Fail("`--host HOST` is required: the host whose agent runs it.", "writeback")
    return ChangeSpec(
        kind=ChangeKind.WRITEBACK, hosts=(_one_host(host, index, "writeback"),), writeback=enable
    )


def _domain_add(args: _Args, index: dict[str, str]) -> ChangeSpec:
    if not args.positionals or args.positionals[0].lower() != "add":
        got = f" (got {_echo(args.positionals[0])})" if args.positionals else ""
        raise _Fail(f"`domain` takes `add`{got}.", "domain")
    if len(args.positionals) < 2:
        raise _Fail("Name the host after `domain add`.", "domain")
    _no_positionals(args, 2)
    host = _one_host(args.positionals[1], index, "domain")
    domains = _domains(args.many("domain"), "domain", required=True)
    return ChangeSpec(kind=ChangeKind.DOMAIN_ADD, hosts=(host,), domains=domains)


def _permissions(args: _Args, index: dict[str, str]) -> ChangeSpec:
    if not args.positionals:
        raise _Fail("Name the host.", "permissions")
    _no_positionals(args, 1)
    host = _one_host(args.positionals[0], index, "permissions")
    types_raw = args.single("type")
    if types_raw is None:
        raise _Fail("`--type TYPE[,TYPE]` is required.", "permissions")
    types = _permission_types(types_raw, "permissions")
    domain_raw = args.single("domain")
    domain = _validated(validate_domain, domain_raw, "permissions") if domain_raw else None
    return ChangeSpec(
        kind=ChangeKind.PERMISSIONS,
        hosts=(host,),
        permissions=types,
        permissions_domain=domain,
    )


def _restart(args: _Args, index: dict[str, str]) -> ChangeSpec:
    return ChangeSpec(kind=ChangeKind.RESTART, hosts=_host_list(args.positionals, index, "restart"))


def _proxy(args: _Args, index: dict[str, str]) -> ChangeSpec:
    """``proxy set HOST[,HOST] --url URL [--bypass A,B]`` or ``proxy clear HOST[,HOST]``."""
    action = args.positionals[0].lower() if args.positionals else ""
    if action not in ("set", "clear"):
        got = f" (got {_echo(args.positionals[0])})" if args.positionals else ""
        raise _Fail(f"Say `set` or `clear`{got}.", "proxy")
    hosts = _host_list(args.positionals[1:], index, "proxy")
    url_raw = args.single("url")
    bypass_raw = args.single("bypass")
    if action == "clear":
        if url_raw is not None or bypass_raw is not None:
            raise _Fail("`proxy clear` takes no `--url` or `--bypass`.", "proxy")
        return ChangeSpec(kind=ChangeKind.PROXY_CLEAR, hosts=hosts)
    if url_raw is None:
        raise _Fail("`--url http://HOST:PORT` is required: the proxy the agent uses.", "proxy")
    url = _validated(validate_proxy_url, url_raw, "proxy")
    bypass: tuple[str, ...] = ()
    if bypass_raw is not None:
        entries = [part for part in bypass_raw.split(",") if part]
        if not entries:
            raise _Fail("`--bypass` needs at least one host, address or *.domain.", "proxy")
        try:
            bypass = validate_bypass(entries)
        except ValidationError as exc:
            raise _Fail(escape(str(exc)).replace("`", "'"), "proxy") from None
    return ChangeSpec(kind=ChangeKind.PROXY_SET, hosts=hosts, proxy_url=url, proxy_bypass=bypass)


_CHANGE_BUILDERS: dict[str, Callable[[_Args, dict[str, str]], ChangeSpec]] = {
    "install": _install,
    "writeback": _writeback,
    "domain": _domain_add,
    "permissions": _permissions,
    "restart": _restart,
    "proxy": _proxy,
}


def _change(topic: str, rest: list[str], index: dict[str, str]) -> ChangeSpec:
    return _CHANGE_BUILDERS[topic](_split_args(topic, rest), index)


def _plan(rest: list[str], index: dict[str, str]) -> Plan:
    if not rest:
        raise _Fail("Say which change to plan.", "plan")
    head = rest[0].lower()
    if head in CHANGE_COMMANDS:
        return Plan(_change(head, rest[1:], index))
    if head.startswith("-"):
        raise _Fail("Say which change to plan before its options.", "plan")
    return Plan(_change("install", rest, index))  # "plan HOST --domain ..." = plan install


def _help(rest: list[str]) -> Help:
    if not rest:
        return Help(None)
    topic = rest[0].lower().lstrip("-")
    topic = ALIASES.get(topic, topic) or topic
    if topic not in USAGES:
        names = ", ".join(USAGES)
        raise _Fail(f"No help for {_echo(rest[0])}. Commands: {names}.", "help")
    if len(rest) > 1:
        raise _Fail(f"Unexpected {_echo(rest[1])}.", "help")
    return Help(topic)


WATCH_ACTIONS = ("status", "pause", "resume")


def _watch(args: _Args, index: dict[str, str]) -> Watch:
    if not args.positionals or args.positionals[0].lower() not in WATCH_ACTIONS:
        got = f" (got {_echo(args.positionals[0])})" if args.positionals else ""
        raise _Fail(f"Say `status`, `pause HOST` or `resume HOST`{got}.", "watch")
    action = args.positionals[0].lower()
    if action == "status":
        _no_positionals(args, 1)
        return Watch("status")
    if len(args.positionals) < 2:
        raise _Fail(f"Name the host to {action}.", "watch")
    _no_positionals(args, 2)
    return Watch(action, _one_host(args.positionals[1], index, "watch"))


def _since(value: str, topic: str) -> int:
    try:
        return parse_since(value)
    except ValidationError as exc:
        raise _Fail(escape(str(exc)).replace("`", "'"), topic) from None


def _logs(args: _Args, index: dict[str, str]) -> Logs:
    if not args.positionals:
        raise _Fail("Name the host whose logs to collect.", "logs")
    _no_positionals(args, 1)
    host = _one_host(args.positionals[0], index, "logs")
    return Logs(host, _since(args.single("since") or DEFAULT_SINCE, "logs"))


def _dispatch(topic: str, rest: list[str], index: dict[str, str]) -> Command:
    if topic in CHANGE_COMMANDS:
        return Change(_change(topic, rest, index))
    if topic == "plan":
        return _plan(rest, index)
    if topic == "help":
        return _help(rest)
    args = _split_args(topic, rest)
    if topic == "check":
        if not args.positionals:
            raise _Fail("Name the host to check.", topic)
        _no_positionals(args, 1)
        return Check(_one_host(args.positionals[0], index, topic))
    if topic == "agents":
        _no_positionals(args)
        return Agents()
    if topic == "status":
        return Status(_request_id(args, required=False))
    if topic == "list":
        _no_positionals(args)
        return List(pending=args.flag("pending"), mine=args.flag("mine"))
    if topic == "watch":
        return _watch(args, index)
    if topic == "logs":
        return _logs(args, index)
    if topic == "cancel":
        request_id = _request_id(args, required=True)
        assert request_id is not None
        return Cancel(request_id)
    # retry
    request_id = _request_id(args, required=True)
    assert request_id is not None
    step_raw = args.single("from")
    return Retry(request_id, _step(step_raw, topic) if step_raw is not None else None)


def _wants_help(tokens: list[str]) -> bool:
    return any(t.lower() in ("--help", "-h") for t in tokens)


def inventory_tags(hosts: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """tag -> the hosts holding it (inventory order), from the configured hosts' ``tags``."""
    out: dict[str, list[str]] = {}
    for name, host in hosts.items():
        for tag in getattr(host, "tags", ()) or ():
            out.setdefault(str(tag), []).append(str(name))
    return {tag: tuple(names) for tag, names in out.items()}


def _nearest(word: str) -> str:
    """`` Did you mean `install`?`` for a near miss (``instal``), else nothing."""
    runnable = [*USAGES, *(alias for alias, topic in ALIASES.items() if topic)]
    close = difflib.get_close_matches(word, runnable, n=1, cutoff=0.7)
    if not close:
        return ""
    return f" Did you mean `{SLASH} {ALIASES.get(close[0], close[0])}`?"


def parse(
    text: str,
    known_hosts: Collection[str],
    tags: Mapping[str, Sequence[str]] | None = None,
    max_hosts: int = MAX_HOSTS,
) -> Command | UsageError:
    """Turn the slash command's text into a command, or say exactly what is wrong.

    ``tags`` (inventory tag -> hosts) lets a change name ``tag:NAME``, expanded here to the
    hosts it holds, up to ``max_hosts`` (the policy's max_hosts_per_request) in all."""
    try:
        return _parse(text, known_hosts, tags, max_hosts)
    except _Fail as fail:
        if fail.topic in USAGES:
            suffix = "\n" + usage_block(fail.topic)
        else:
            suffix = f"\nUsage: `{SLASH} COMMAND ...`; `{SLASH} help` lists the commands."
        return UsageError(fail.problem + suffix, fail.topic)
    except Exception:  # a bug here must not crash the listener; say so plainly instead
        return UsageError(f"Sorry, that command could not be read. Try `{SLASH} help`.", None)


def _parse(
    text: str,
    known_hosts: Collection[str],
    tags: Mapping[str, Sequence[str]] | None = None,
    max_hosts: int = MAX_HOSTS,
) -> Command:
    if not isinstance(text, str):
        raise _Fail("The command text is missing.", None)
    if len(text) > MAX_TEXT:
        raise _Fail(f"That command is too long ({len(text)} characters; at most {MAX_TEXT}).", None)
    tokens = _tokens(text)
    if tokens and tokens[0].lower() == SLASH:
        tokens = tokens[1:]  # pasted with the slash command itself
    if not tokens:
        return Help(None)
    head = tokens[0].lower()
    topic = ALIASES.get(head, head)
    if topic == "":
        raise _Fail(
            f"{_echo(tokens[0])} is done with the buttons on the request card "
            f"(or the App Home tab), not with a command. `{SLASH} list --pending` shows "
            "what waits for approval.",
            None,
        )
    if topic not in USAGES:
        names = ", ".join(USAGES)
        raise _Fail(f"Unknown command {_echo(tokens[0])}.{_nearest(head)} Commands: {names}.", None)
    if _wants_help(tokens[1:]):
        return Help(topic)
    return _dispatch(topic, tokens[1:], _host_index(known_hosts, tags, max_hosts))
