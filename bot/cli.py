"""``cloudsync``: one command line for every process of the bot.

run      the main job: Slack (Socket Mode / HTTP) plus local workers, or the local console
         when no Slack token is configured
console  the local console (embedded Redis, simulated hosts, real Bolt and Celery)
serve    only the Slack side (Socket Mode, or HTTP with --http HOST:PORT)
worker   a Celery worker
sim      the Windows host simulator
audit    the audit trail as JSON lines or CSV
doctor   what the Slack installation lacks (token, scopes, channels the bot is not in)
slack-standin  a loopback Slack Web API for rehearsals (send / click: signed requests to the bot,
         or envelopes over Socket Mode with --socket)
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from bot.local.extras import MissingExtra, require_simulator
from workers.domain.config import ConfigError, load_config
from workers.logging_setup import setup_logging
from workers.settings import Settings


def package_version() -> str:
    """The installed distribution's version (pyproject's), not a second copy kept by hand."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cloudsync-bot")
    except PackageNotFoundError:
        return "unknown (not installed)"


# `run` with an app token but no bot token: a Socket Mode setup missing half its settings.
HALF_SOCKET_MODE = (
    "cloudsync run: SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not, so the app token is "
    "ignored and the local console starts; set SLACK_BOT_TOKEN (xoxb-...) to serve Slack"
)
AUDIT_CSV_COLUMNS = ("id", "at", "event", "request", "actor", "data")


def write_audit(events: Any, fmt: str, out: Any) -> None:
    """The trail as JSON lines (one object per event) or CSV (header row, one row per event,
    ``data`` a JSON string so every event fits the same columns)."""
    if fmt == "jsonl":
        for event in events:
            print(json.dumps(event.to_dict(), sort_keys=True), file=out)
        return
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(AUDIT_CSV_COLUMNS)
    for event in events:
        row = event.to_dict()
        row["data"] = json.dumps(row.get("data") or {}, sort_keys=True)
        writer.writerow(["" if row.get(c) is None else row[c] for c in AUDIT_CSV_COLUMNS])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudsync", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"cloudsync {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="the main job (console when no Slack tokens are set)",
        description="Without SLACK_BOT_TOKEN: the local console (as `cloudsync console`). With "
        "it: the Slack side, over Socket Mode (needs SLACK_APP_TOKEN) or HTTP (--http, needs "
        "SLACK_SIGNING_SECRET), plus --workers local Celery worker processes; Redis is "
        "REDIS_URL, else an embedded one.",
    )
    run.add_argument("--http", metavar="HOST:PORT", help="serve Slack over HTTP here")
    run.add_argument("--workers", type=int, default=1, help="local Celery worker processes")
    run.add_argument("--concurrency", type=int, default=2, help="tasks per worker process")

    sub.add_parser(
        "console",
        help="the local console",
        description="The local console: type /cloudsync commands and click as the demo users, "
        "against an embedded Redis, simulated Windows hosts and the real Bolt app and Celery "
        "workers; needs no Slack settings.",
    )

    serve = sub.add_parser(
        "serve",
        help="only the Slack side",
        description="Only the Slack side, no workers (run `cloudsync worker` for them): Socket "
        "Mode with SLACK_BOT_TOKEN and SLACK_APP_TOKEN, or HTTP with --http HOST:PORT and "
        "SLACK_SIGNING_SECRET; Redis is REDIS_URL, else an embedded one.",
    )
    serve.add_argument("--http", metavar="HOST:PORT", help="HTTP mode (needs SLACK_SIGNING_SECRET)")
    serve.add_argument("--threads", type=int, default=16, help="HTTP worker threads")

    worker = sub.add_parser("worker", help="a Celery worker")
    worker.add_argument("--concurrency", "-c", type=int, default=2)
    worker.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    worker.add_argument("--name", "-n", default=None)
    worker.add_argument("--beat", action="store_true", help="also run the periodic sweeps")
    worker.add_argument("--loglevel", default="INFO")

    sim = sub.add_parser("sim", help="the Windows host simulator", add_help=False)
    sim.add_argument("rest", nargs=argparse.REMAINDER)

    audit = sub.add_parser("audit", help="print the audit trail as JSON lines or CSV")
    audit.add_argument(
        "--format",
        choices=["jsonl", "csv"],
        default="jsonl",
        help="jsonl: one JSON object per event (default); csv: a header row, then one row per "
        "event with its data as a JSON string",
    )
    audit.add_argument("--since", help="ISO date or date-time (UTC)")
    audit.add_argument("--request", help="only this request id")

    sub.add_parser(
        "doctor",
        help="check the Slack token, its scopes and the policy channels",
        description="Asks Slack, with SLACK_BOT_TOKEN (at SLACK_API_URL if set), whether the "
        "token is valid (auth.test), which of the scopes the bot needs it holds and what each is "
        "for, and whether the bot is a member of each policy channel and of the fleet watch's "
        "channel (conversations.info). Exit codes: 0 all good; 1 problems found (each named "
        "with its fix); 2 could not check (no SLACK_BOT_TOKEN, Slack unreachable or answering "
        "with a server error).",
    )
    _standin_parser(sub)
    return parser


def _standin_parser(sub: Any) -> None:
    """``slack-standin`` serves the loopback Slack (``--listen``); ``send`` and ``click`` sign
    requests to a bot in HTTP mode as Slack would, or (``--socket``) hand the stand-in the
    envelopes for a bot connected to it in Socket Mode (docs/rehearsal.md)."""
    standin = sub.add_parser(
        "slack-standin",
        help="a loopback Slack Web API for rehearsals",
        description="Without send/click: serve the loopback Slack Web API on --listen until "
        "Ctrl-C (needs the 'sim' extra), printing the SLACK_API_URL, bot token and app-level "
        "token to give the bot, then what the bot says. send/click: signed requests to a bot in "
        "HTTP mode, using SLACK_SIGNING_SECRET and SLACK_API_URL, or with --socket envelopes "
        "to a bot in Socket Mode through the stand-in at SLACK_API_URL (docs/rehearsal.md).",
    )
    standin.add_argument(
        "--listen", default="127.0.0.1:0", metavar="127.0.0.1:PORT", help="where to serve"
    )
    standin.add_argument(
        "--app-token-file",
        metavar="FILE",
        help="also write the app-level token it makes up (SLACK_APP_TOKEN) to FILE (mode 0600)",
    )
    acts = standin.add_subparsers(dest="standin_action")
    for name, helptext in (
        ("send", "send a /cloudsync command (signed over HTTP, or over Socket Mode)"),
        ("click", "click a button on the newest channel message showing it"),
    ):
        act = acts.add_parser(name, help=helptext)
        where = act.add_mutually_exclusive_group(required=True)
        where.add_argument("--to", metavar="URL", help="HTTP mode: the bot's /slack/events URL")
        where.add_argument(
            "--socket",
            action="store_true",
            help="Socket Mode: through the stand-in at SLACK_API_URL, to the bot connected there",
        )
        act.add_argument("--as", dest="user", required=True, help="a user name of policy.yaml")
        if name == "send":
            act.add_argument(
                "text",
                nargs=argparse.REMAINDER,
                help="the command's text (after --to and --as), e.g. install SYNC01 --domain D",
            )
        else:
            act.add_argument("action", help="the button's action, e.g. approve")
            act.add_argument("--request", help="the request's id (default: the newest)")


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except MissingExtra as exc:
        print(exc, file=sys.stderr)
        return 2


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:  # argparse keeps the subcommands on its subparsers action
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def unknown_command(word: str, commands: list[str]) -> str:
    """One line for a mistyped subcommand: the nearest one (as the slash grammar does, see
    ``bot.grammar._nearest``), else the list; argparse's own error is two lines of usage.
    A word near a Slack command (``instal``) says where that command is typed."""
    from bot.help import SLASH, USAGES

    slash = [name for name in USAGES if name not in commands]
    where = "in Slack or in the local console (cloudsync console)"
    if word in slash:
        return f"cloudsync: '{word}' is a Slack command: type {SLASH} {word} ... {where}"
    close = difflib.get_close_matches(word, [*commands, *slash], n=1, cutoff=0.6)
    if not close:
        return f"cloudsync: unknown command '{word}' (commands: {', '.join(commands)})"
    if close[0] in commands:
        return f"cloudsync: unknown command '{word}': did you mean {close[0]}?"
    return (
        f"cloudsync: unknown command '{word}': did you mean {close[0]}? That is a Slack command: "
        f"type {SLASH} {close[0]} ... {where}"
    )


def _main(argv: list[str]) -> int:
    if argv[:1] == ["sim"]:
        require_simulator("`cloudsync sim` serves simulated Windows hosts")
        from simulator.cli import main as sim_main

        return sim_main(argv[1:])
    parser = _parser()
    commands = _commands(parser)
    if argv and not argv[0].startswith("-") and argv[0] not in commands:
        print(unknown_command(argv[0], commands), file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command == "slack-standin" and not args.standin_action:
        require_simulator("`cloudsync slack-standin` serves the loopback Slack Web API")
        from simulator.slack_api import main as standin_main

        token_file = ["--app-token-file", args.app_token_file] if args.app_token_file else []
        return standin_main(["--listen", args.listen, *token_file, *_standin_channels()])
    try:
        settings = Settings.from_env()
    except (ValueError, OSError) as exc:  # a bad value, an unreadable *_FILE secret
        print(f"cloudsync: settings error: {exc}", file=sys.stderr)
        return 2
    console = args.command == "console" or (args.command == "run" and not settings.has_slack)
    if args.command == "run" and console and settings.slack_app_token:
        print(HALF_SOCKET_MODE, file=sys.stderr)
    setup_logging(settings, path=settings.data_dir / "console.log" if console else None)
    try:
        config = load_config(settings.config_dir)
    except ConfigError as exc:
        print(f"cloudsync: configuration error: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:  # unreadable: permissions, not UTF-8
        print(
            f"cloudsync: cannot read the configuration in {settings.config_dir} "
            f"({type(exc).__name__}: {exc}); check CLOUDSYNC_CONFIG and the files' permissions",
            file=sys.stderr,
        )
        return 2
    if args.command in ("run", "console", "serve", "worker"):
        problem = _short_secret(config, settings)
        if problem:
            print(f"cloudsync {args.command}: {problem}", file=sys.stderr)
            return 2
    if args.command == "worker":
        return _worker(args, settings)
    if args.command == "audit":
        return _audit(args, config, settings)
    if args.command == "doctor":
        return _doctor(config, settings)
    if args.command == "slack-standin":
        return _standin_send(args, config, settings)
    if console:
        require_simulator("the local console serves the demo hosts")
        from bot.local.console import run_console

        return run_console(config, settings)
    from bot.serve import serve

    return serve(
        config,
        settings,
        http=args.http,
        local_workers=args.workers if args.command == "run" else 0,
        concurrency=getattr(args, "concurrency", 2),
        threads=getattr(args, "threads", 16),
    )


def _short_secret(config: Any, settings: Settings) -> str | None:
    """A secret shorter than the minimum refuses the start, in one line naming the secret
    and its reference (never its value); secrets this process cannot read are preflight's."""
    from workers.domain.secrets import SecretsProvider, short_secret

    provider = SecretsProvider(
        config, vault_addr=settings.vault_addr, vault_token=settings.vault_token
    )
    return short_secret(provider)


def _standin_channels() -> list[str]:
    """The policy's channels, as if the bot had been invited to them; none when the
    configuration cannot be read (the stand-in then says ``not_in_channel``, as Slack would)."""
    try:
        config = load_config(Settings.from_env().config_dir)
    except (ConfigError, ValueError, OSError):
        return []
    return [f"--channel={c}" for c in sorted(set(config.policy.channels) | set(config.channels))]


def _standin_send(args: Any, config: Any, settings: Settings) -> int:
    from bot.local.send import SendError, click, send_command

    if args.socket:
        return _standin_socket(args, config, settings)
    common = {
        "url": args.to,
        "secret": settings.slack_signing_secret,
        "api_url": settings.slack_api_url,
        "user": args.user,
    }
    try:
        if args.standin_action == "send":
            answer = send_command(config, text=" ".join(args.text), **common)
        else:
            answer = click(config, action_id=args.action, request_id=args.request, **common)
    except SendError as exc:
        print(f"cloudsync slack-standin {args.standin_action}: {exc}", file=sys.stderr)
        return 2
    print(answer)
    return 0


def _standin_socket(args: Any, config: Any, settings: Settings) -> int:
    from bot.local.send import SendError
    from bot.local.send_socket import click_socket, send_command_socket

    try:
        if args.standin_action == "send":
            answer = send_command_socket(
                config, api_url=settings.slack_api_url, user=args.user, text=" ".join(args.text)
            )
        else:
            answer = click_socket(
                config,
                api_url=settings.slack_api_url,
                user=args.user,
                action_id=args.action,
                request_id=args.request,
            )
    except SendError as exc:
        print(f"cloudsync slack-standin {args.standin_action}: {exc}", file=sys.stderr)
        return 2
    print(answer)
    return 0


def _doctor(config: Any, settings: Settings) -> int:
    if not settings.slack_bot_token:  # could not check: exit 2, as `doctor --help` says
        print("cloudsync doctor: set SLACK_BOT_TOKEN (the app's xoxb- token)", file=sys.stderr)
        return 2
    from bot.app import make_web_client
    from bot.doctor import EXIT_UNCHECKED, diagnose, quiet_slack_sdk, report

    client = make_web_client(settings.slack_bot_token, settings.slack_api_url)
    try:
        with quiet_slack_sdk():
            diagnosis = diagnose(client, config)
    except OSError as exc:
        print(
            f"cloudsync doctor: cannot reach Slack ({type(exc).__name__}: {exc})", file=sys.stderr
        )
        return EXIT_UNCHECKED
    print(report(diagnosis))
    return diagnosis.exit_code


def _worker(args: Any, settings: Settings) -> int:
    from workers.celery_app import QUEUE, app

    argv = [
        "worker",
        f"--loglevel={args.loglevel}",
        "-Q",
        QUEUE,
        "--concurrency",
        str(args.concurrency),
        "--pool",
        args.pool,
        "--without-gossip",
        "--without-mingle",
    ]
    if args.name:
        argv += ["-n", args.name]
    if args.beat:
        argv += ["-B", "-s", str(settings.data_dir / "celerybeat-schedule")]
    app.worker_main(argv)
    return 0


def _audit(args: Any, config: Any, settings: Settings) -> int:
    import redis

    from workers import redis_connect
    from workers.domain.store import RequestStore

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since).timestamp()
        except ValueError:
            print(f"cloudsync audit: --since {args.since!r} is not an ISO date", file=sys.stderr)
            return 2
    with _audit_redis(settings) as url:
        if url is None:
            print(
                "cloudsync audit: set REDIS_URL to the bot's Redis (no embedded Redis data in "
                f"{settings.data_dir})",
                file=sys.stderr,
            )
            return 2
        from bot.serve import redis_problem, startup_error

        problem = redis_problem(url)
        if problem:
            return startup_error("audit", problem)
        store = RequestStore(redis_connect.connect(url), prefix=settings.prefix)
        try:
            events = store.events(request_id=args.request, since=since)
        except redis.RedisError as exc:
            return startup_error("audit", f"Redis failed while reading the trail: {exc}")
        write_audit(events, args.format, sys.stdout)
    return 0


@contextmanager
def _audit_redis(settings: Settings) -> Iterator[str | None]:
    """REDIS_URL; else the embedded Redis of a running `cloudsync run`; else its data, read by a
    short-lived embedded server."""
    import redis

    from bot.local.redis_embedded import EmbeddedRedis
    from workers import redis_connect

    if settings.redis_url:
        yield settings.redis_url
        return
    data = settings.data_dir / "redis"
    marker = data / "url"
    if marker.is_file():
        url = marker.read_text().strip()
        try:
            redis_connect.connect(url, socket_connect_timeout=1).ping()
            yield url
            return
        except redis.RedisError:
            pass
    if not any(data.glob("appendonly*")):
        yield None
        return
    server = EmbeddedRedis(data, appendonly=True).start()
    try:
        yield server.url
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
