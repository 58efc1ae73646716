"""The local console: Slack in a terminal, driving the real bot.

Lines from stdin become signed Slack requests given to Bolt's real ``App.dispatch``; the bot's
Web API calls go to the loopback Slack server, whose every call is printed as a channel would
show it; the install runs in a real Celery worker process against simulated hosts over WinRM.

Commands: ``/cloudsync ...`` (as the current user in #ops), ``:as NAME``, ``:click ACTION_ID
[VALUE]``, ``:submit TEXT`` (the last opened modal), ``:wait``, ``:watch`` (one fleet watch round
now), ``:sim stop-agent|start-agent HOST`` (simulator only), ``:save-upload PATH`` (the last
uploaded file's bytes), ``:help``, ``:quit``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from slack_bolt import BoltRequest

from bot.local import fleet_watch, payloads
from bot.local.bot import LocalBot
from bot.local.signing import signed_headers
from bot.local.sim_commands import sim_command
from bot.local.stack import LocalStack
from bot.render import render_blocks, unescape
from simulator.slack_api import Call, Message
from workers.domain.config import Config
from workers.settings import Settings

log = logging.getLogger(__name__)

CONSOLE_TOKEN = "xoxb-local-console"
HELP = """\
Console commands:
  /cloudsync <args>        the slash command, as the current user, in #ops
  :as NAME                 become another user (alice, bob, carol)
  :click ACTION [VALUE]    click the most recent button with that action id, VALUE picks
                           the request (e.g. :click approve CS-0005). Request cards: approve,
                           deny, cancel, resubmit_without; watch notices: watch_restart,
                           watch_check (VALUE: the host)
  :submit TEXT             submit the most recently opened dialog (e.g. a deny reason)
  :wait                    wait until no request is queued or running
  :watch                   one fleet watch round now (it also runs every
                           CLOUDSYNC_WATCH_INTERVAL seconds); says what it read and posted
  :sim stop-agent HOST     simulator only: stop (or start-agent: start) the simulated agent
                           service on HOST, as a crash (or a person) would
  :save-upload PATH        write the last file the bot uploaded (e.g. a logs archive) to PATH
  :help  :quit
"""


class Console:
    def __init__(
        self,
        config: Config,
        settings: Settings,
        *,
        out: TextIO = sys.stdout,
        channel: str = "C01OPS",
        user: str = "alice",
        persist: bool = True,
        wait_timeout_s: float = 300.0,
    ) -> None:
        self.config = config
        self.settings = settings
        self.out = out
        self.channel = channel
        self.user_id = config.user_id(user) or user
        self.local = LocalBot(
            config,
            settings,
            persist=persist,
            worker_log=settings.data_dir / "worker.log",
            watch=True,
        )
        self.slack = self.local.slack
        self.wait_timeout_s = wait_timeout_s
        self._print_lock = threading.Lock()
        self._counter = itertools.count(1)
        self._views: list[dict[str, Any]] = []
        self.start_note: str | None = None

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> Console:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.slack.subscribe(self._on_call)
        self.local.start()
        self.start_note = sim_state_line(self.local.stack, self.local.ctx.store.count())
        return self

    def _show_restored_cards(self) -> None:
        """The cards still waiting for approval from an earlier run, shown again (the local
        Slack stand-in remembers messages for one run only; the requests are kept)."""
        ids = self.local.restored_cards
        if not ids:
            return
        self.say(
            f"Still waiting for approval from an earlier run: {', '.join(ids)} "
            "(their cards, as they read now; :click approve ID picks one):"
        )
        heads = tuple(f"{i}:" for i in ids)  # a card's text starts with its request id
        for message in self.slack.messages(self.channel):
            if message.thread_ts is None and (message.text or "").startswith(heads):
                body = self._show(message.text, message.blocks)
                self.say(_indent(f"#ops cloudsync [{message.ts}]:\n{body}", "  "))

    def stop(self) -> None:
        self.local.stop()

    # input -------------------------------------------------------------------------------
    def run(self, lines: Iterable[str], interactive: bool = False) -> int:
        self.say(f"cloudsync console: you are {self._name(self.user_id)} in #ops. :help for help.")
        if self.start_note:
            self.say(self.start_note)
        self._show_restored_cards()
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                if interactive:
                    self._prompt()
                continue
            if line in (":quit", ":exit", ":q"):
                break
            self.handle(line)
            if interactive:
                self._prompt()
        if interactive:  # Ctrl-D: end the prompt's line
            self.out.write("\n")
            self.out.flush()
        self.wait_idle(include_runs=True)
        return 0

    def _prompt(self) -> None:
        self.out.write(f"{self._name(self.user_id)}> ")
        self.out.flush()

    def handle(self, line: str) -> None:
        if line.startswith("/cloudsync"):
            self.slash(line[len("/cloudsync") :].strip())
            self.wait_idle(include_runs=False)
        elif line.startswith(":as"):
            name = line[3:].strip()
            user = self.config.user_id(name)
            if user is None:
                known = ", ".join(u.name for u in self.config.users.values())
                self.say(f"(unknown user {name!r}; known: {known})")
                return
            self.user_id = user
            self.say(f"(you are now {self._name(user)})")
        elif line.startswith(":click"):
            parts = line.split()
            if len(parts) < 2:
                self.say("(usage: :click ACTION_ID [VALUE])")
                return
            self.click(parts[1], parts[2] if len(parts) > 2 else None)
            self.wait_idle(include_runs=False)
        elif line.startswith(":submit"):
            self.submit(line[len(":submit") :].strip())
            self.wait_idle(include_runs=False)
        elif line.startswith(":wait"):
            began = time.monotonic()
            if self.wait_idle(include_runs=True):
                waited = time.monotonic() - began
                self.say(f"(waited {waited:.1f} s: no request is queued or running now)")
        elif line.startswith(":watch"):
            self.watch_round()
        elif line.startswith(":sim"):
            self.say(sim_command(self.local.stack, line[len(":sim") :].split()))
        elif line.startswith(":save-upload"):
            self.say(self.save_upload(line[len(":save-upload") :].strip()))
        elif line.startswith(":help"):
            self.say(HELP.rstrip())
        else:
            self.say("(not understood; :help lists the console commands)")

    def save_upload(self, path: str) -> str:
        """Write the newest completed upload's bytes to ``path``; the line to print. The local
        Slack stand-in keeps uploads in memory for this run only."""
        if not path:
            return "(usage: :save-upload PATH)"
        done = [u for u in self.slack.uploads.values() if u.completed and u.data is not None]
        if not done:
            return "(nothing was uploaded in this run)"
        upload = done[-1]
        target = Path(path).expanduser()
        try:
            target.write_bytes(upload.data or b"")
        except OSError as exc:
            return f"(could not write {target}: {exc.strerror or exc})"
        return f"(saved {upload.filename}, {len(upload.data or b'')} bytes, to {target})"

    def watch_round(self) -> None:
        """One fleet watch round now; its notices are printed as they are posted, then one line
        on what it read and posted."""
        result = fleet_watch.round_now(self.local.ctx, self.config, timeout_s=self.wait_timeout_s)
        self.wait_idle(include_runs=False)  # the projector and the outbox post the notices
        self.say(result.line(lambda c: self.config.channels.get(c, c)))

    # slack requests ----------------------------------------------------------------------
    def _dispatch(self, body: str) -> Any:
        headers: dict[str, str | Sequence[str]] = dict(
            signed_headers(self.local.signing_secret, body)
        )
        return self.local.app.dispatch(BoltRequest(body=body, headers=headers))

    def _response_url(self) -> str:
        return self.slack.response_url(f"{self.user_id}-{next(self._counter)}")

    def slash(self, text: str) -> None:
        self.say(f"{self._name(self.user_id)} > /cloudsync {text}".rstrip())
        body = payloads.slash_command(
            user_id=self.user_id,
            user_name=self._name(self.user_id),
            channel_id=self.channel,
            channel_name=self.config.channels.get(self.channel, self.channel),
            text=text,
            response_url=self._response_url(),
        )
        self._print_ack(self._dispatch(body))

    def _print_ack(self, response: Any) -> None:
        if response.status != 200:
            self.say(f"(slack would show an error: HTTP {response.status})")
            return
        if not response.body:
            return
        try:
            data = json.loads(response.body)
        except ValueError:
            data = {"text": response.body}
        if data.get("text") or data.get("blocks"):
            self._print_ephemeral(self.user_id, data.get("text"), data.get("blocks"))

    def _find_button(
        self, action_id: str, value: str | None
    ) -> tuple[Message | None, dict[str, Any] | None, str]:
        """The most recent button with that action id, in the channel or the user's App Home."""
        for message in reversed(self.slack.messages(self.channel)):
            for block in message.blocks or []:
                for element in block.get("elements", []) if block.get("type") == "actions" else []:
                    if element.get("action_id") == action_id and (
                        value is None or element.get("value") == value
                    ):
                        return message, element, str(block.get("block_id", "actions"))
        return None, None, ""

    def click(self, action_id: str, value: str | None, wait_s: float = 60.0) -> None:
        deadline = time.monotonic() + wait_s
        message, element, block_id = self._find_button(action_id, value)
        while element is None and time.monotonic() < deadline and self._busy(False):
            time.sleep(0.1)
            message, element, block_id = self._find_button(action_id, value)
        if element is None or message is None:
            self.say(f"(no button {action_id!r} to click)")
            return
        self.say(
            f"{self._name(self.user_id)} clicks [{element.get('text', {}).get('text', action_id)}]"
        )
        if element.get("confirm"):
            self.say("   (confirm dialog: confirmed)")
        body = payloads.button_click(
            user_id=self.user_id,
            user_name=self._name(self.user_id),
            channel_id=self.channel,
            channel_name=self.config.channels.get(self.channel, ""),
            action_id=action_id,
            value=str(element.get("value", "")),
            response_url=self._response_url(),
            message=message.to_slack(),
            block_id=block_id,
        )
        self._print_ack(self._dispatch(body))

    def submit(self, text: str) -> None:
        if not self._views:
            self.say("(no dialog is open)")
            return
        view = self._views.pop()
        values: dict[str, dict[str, dict[str, Any]]] = {}
        for block in view.get("blocks", []):
            if block.get("type") == "input":
                element = block.get("element", {})
                values[str(block.get("block_id"))] = {
                    str(element.get("action_id")): {"type": element.get("type"), "value": text}
                }
        self.say(f"{self._name(self.user_id)} submits the dialog: {text}")
        body = payloads.view_submission(
            user_id=self.user_id,
            user_name=self._name(self.user_id),
            callback_id=str(view.get("callback_id", "")),
            private_metadata=str(view.get("private_metadata", "")),
            values=values,
        )
        self._print_ack(self._dispatch(body))

    # waiting -----------------------------------------------------------------------------
    def _busy(self, include_runs: bool) -> bool:
        return self.local.busy(include_runs)

    def wait_idle(self, include_runs: bool) -> bool:
        """Wait until nothing is queued (or running, with ``include_runs``); False on giving up."""
        deadline = time.monotonic() + self.wait_timeout_s
        time.sleep(0.05)
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self._busy(include_runs):
                quiet_since = None
            else:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 0.3:
                    return True
            time.sleep(0.05)
        what = "queued or running" if include_runs else "queued"
        self.say(
            f"(gave up waiting after {self.wait_timeout_s:.0f} s: a request is still {what}; "
            "`/cloudsync status` shows it)"
        )
        return False

    # printing ----------------------------------------------------------------------------
    def _name(self, user: str) -> str:
        known = self.config.users.get(user)
        return known.name if known else user

    def say(self, text: str) -> None:
        with self._print_lock:
            self.out.write(text + "\n")
            self.out.flush()

    def _show(self, text: str | None, blocks: list[Any] | None) -> str:
        """What a Slack client would display: blocks rendered, mrkdwn markup resolved, and
        user and channel ids shown as the names policy.yaml gives them."""
        body = render_blocks(blocks) if blocks else unescape(text or "")
        body = _MENTION.sub(lambda m: "@" + self._name(m.group(1)), body)
        return _CHANNEL.sub(lambda m: "#" + self.config.channels.get(m.group(1), m.group(1)), body)

    def _print_ephemeral(self, user: str, text: str | None, blocks: list[Any] | None) -> None:
        body = self._show(text, blocks)
        self.say(_indent(f"[only visible to {self._name(user)}] {body}", "  "))

    def _on_call(self, call: Call, message: Message | None) -> None:
        if not call.ok:
            self.say(f"  (slack answered {call.method} with {call.status} {call.error or ''})")
            return
        if call.method == "chat.postMessage" and message is not None:
            body = self._show(message.text, message.blocks)
            if message.thread_ts:
                self.say(_indent(f"↳ cloudsync (in thread): {body}", "      "))
            else:
                self.say(_indent(f"#ops cloudsync [{message.ts}]:\n{body}", "  "))
        elif call.method == "chat.update" and message is not None:
            body = self._show(message.text, message.blocks)
            self.say(_indent(f"#ops cloudsync edited [{message.ts}]:\n{body}", "  "))
        elif call.method == "chat.postEphemeral":
            self._print_ephemeral(
                str(call.args.get("user", "")), call.args.get("text"), call.args.get("blocks")
            )
        elif call.method == "response_url":
            user = str(call.args.get("name", "")).rsplit("-", 1)[0]
            self._print_ephemeral(user, call.args.get("text"), call.args.get("blocks"))
        elif call.method == "views.open":
            view = call.args.get("view") or {}
            if isinstance(view, str):
                view = json.loads(view)
            self._views.append(view)
            title = (view.get("title") or {}).get("text", "dialog")
            self.say(f"  [dialog opened: {title}] (answer with :submit TEXT)")
        elif call.method == "files.completeUploadExternal":
            self._print_upload(call, message)
        elif call.method == "views.publish":
            self.say(f"  (App Home of {self._name(str(call.args.get('user_id', '')))} updated)")

    def _print_upload(self, call: Call, message: Message | None) -> None:
        """A file shared in the channel: its name, size and the comment saying what was cut;
        the bytes stay with the stand-in (``:save-upload PATH`` writes them)."""
        files = call.args.get("files")
        if isinstance(files, str):
            with contextlib.suppress(ValueError):
                files = json.loads(files)
        ids = [str(f.get("id")) for f in files or [] if isinstance(f, dict)]
        uploads = [self.slack.uploads[i] for i in ids if i in self.slack.uploads]
        names = ", ".join(f"{u.filename} ({u.length} bytes)" for u in uploads) or "a file"
        where = "in thread" if message is not None and message.thread_ts else "#ops"
        comment = self._show(message.text, None) if message is not None else ""
        self.say(_indent(f"{where} cloudsync uploaded {names}:\n{comment}".rstrip(), "  "))
        self.say("  (:save-upload PATH writes the file's bytes to PATH)")


_MENTION = re.compile(r"@(U[A-Z0-9]{2,})\b")
_CHANNEL = re.compile(r"#(C[A-Z0-9]{2,})\b")


MAY_NOT_MATCH = "their results may no longer match the hosts"


def sim_state_line(stack: LocalStack, kept: int) -> str | None:
    """One line on what the simulated hosts remember: requests persist in the data folder
    (Redis AOF), and so do the hosts' states, saved every few seconds while anything changes
    and when the console stops. Hosts that start fresh under kept requests are a warning."""
    if stack.sim is None:
        return None
    if stack.sim_state_found:
        line = f"Simulated hosts as the last run left them: {len(stack.sim_restored)} restored"
        if stack.sim_fresh:
            fresh = ", ".join(stack.sim_fresh)
            line += f"; started fresh (new, or their sim: settings changed): {fresh}"
            if kept:
                return line + f"; {kept} request(s) kept: on those hosts {MAY_NOT_MATCH}."
        return line + f"; {kept} request(s) kept."
    if kept:
        return (
            f"⚠️ Simulated hosts start fresh (no saved state in {stack.sim_state_path.parent}), "
            f"while {kept} earlier request(s) were kept: {MAY_NOT_MATCH} (e.g. an agent a "
            "kept request installed is not there)."
        )
    return None


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


HISTORY_LINES = 1000


def typed_lines(prompt: Callable[[], str], history: Path | None) -> Iterator[str]:
    """Lines typed at a terminal, with line editing and history (GNU readline, where Python has
    it), the history kept in ``history`` between sessions. Ends at Ctrl-D."""
    try:
        import readline
    except ImportError:  # no readline in this Python build: plain input() still works
        readline = None  # type: ignore[assignment]
    if readline is not None and history is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(history)
        readline.set_history_length(HISTORY_LINES)
    try:
        while True:
            try:
                yield input(prompt())
            except EOFError:  # Ctrl-D: end the prompt's line
                print()
                return
    finally:
        if readline is not None and history is not None:
            with contextlib.suppress(OSError):
                history.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(history)


def _stop_on_sigterm() -> None:
    """SIGTERM (``kill``, a service manager, a closed terminal's session) stops the console as
    Ctrl-C does: the simulated hosts' state is saved and the stack stops quietly. A second
    SIGTERM while stopping is ignored, so the stop finishes."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run_console(config: Config, settings: Settings, stdin: TextIO = sys.stdin) -> int:
    console = Console(config, settings)
    _stop_on_sigterm()
    try:
        console.start()
        log.info("console started data_dir=%s (this log: console.log)", settings.data_dir)
        if stdin is sys.stdin and stdin.isatty():
            history = settings.data_dir / "console_history"
            return console.run(typed_lines(lambda: f"{console._name(console.user_id)}> ", history))
        return console.run(stdin, interactive=stdin.isatty())
    except KeyboardInterrupt:  # Ctrl-C: stop quietly, no traceback
        print(file=sys.stderr)
        log.info("console interrupted")
        return 0
    finally:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while stopping
            console.stop()
