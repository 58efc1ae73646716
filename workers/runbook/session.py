"""One WinRM shell, one powershell.exe, steps fed through stdin: the runbook's transport.

The loader (bootstrap.ps1) is started once with -EncodedCommand and holds no secret and no user
value. Each step is ONE Send carrying the secret frames it still needs plus the step frame (JSON,
one line each, ASCII so no code page can mangle it), then Receives until the step's
``@@CLOUDSYNC@@`` result line arrives. The module import and the Entra sign-in live in that one
process, as the install procedure requires, and no secret or value is ever on a command line.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import requests
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)
from winrm.protocol import Protocol

from workers.domain.config import HostConfig
from workers.domain.redact import Redactor, default_redactor
from workers.domain.secrets import Credential
from workers.runbook import kerberos_login
from workers.runbook.powershell import encode_command, parse_clixml
from workers.runbook.steps import Step, Upload

MARKER = "@@CLOUDSYNC@@"
# Windows PowerShell 5.1 by its full path: with WINRS_SKIP_CMD_SHELL=TRUE no cmd.exe searches the
# PATH, and a recorded exchange (pypsrp's test_winrs_no_cmd_shell) refused a bare powershell.exe.
POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
BOOTSTRAP_PATH = Path(__file__).with_name("bootstrap.ps1")
_TRANSPORT_ERRORS = (requests.exceptions.RequestException, WinRMTransportError, WinRMError, OSError)

# A failed connection in words; requests wraps urllib3's MaxRetryError, whose text is a repr
# ("HTTPConnectionPool(host=...): Max retries exceeded ... <urllib3.connection...>"), and the
# OS error inside it is what the operator needs.
_CONNECTION_WORDS: tuple[tuple[tuple[type[BaseException], ...], tuple[str, ...], str], ...] = (
    ((ConnectionRefusedError,), ("connection refused",), "connection refused"),
    ((ConnectionResetError,), ("connection reset",), "the connection was reset"),
    (
        (socket.gaierror,),
        ("name or service not known", "nodename nor servname", "failed to resolve"),
        "the name does not resolve",
    ),
    ((TimeoutError, requests.exceptions.Timeout), ("timed out",), "no answer (timed out)"),
    (
        (ssl.SSLCertVerificationError,),
        ("certificate verify failed",),
        "its TLS certificate is not trusted (certificate verify failed: see ca_trust_path)",
    ),
    ((ssl.SSLError,), (), "the TLS (SSL) handshake failed"),
    ((), ("no route to host", "network is unreachable"), "the host is unreachable"),
)
_CONNECT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, OSError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its causes and the errors it wraps (urllib3's ``reason``, requests' args)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        cur = todo.pop(0)
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        more = [cur.__cause__, cur.__context__, getattr(cur, "reason", None), *cur.args]
        todo.extend(e for e in more if isinstance(e, BaseException))


def fault_text(exc: WSManFaultError) -> str:
    """A WS-Management fault in words: pywinrm's own text ends in the repr of a dict
    ("(extended fault data: {'transport_message': ...})"), which an operator should not see."""
    codes = [f"HTTP {exc.code}"]
    if exc.wsman_fault_code is not None:
        codes.append(f"WS-Management code {exc.wsman_fault_code}")
    if exc.fault_subcode or exc.fault_code:
        codes.append(str(exc.fault_subcode or exc.fault_code))
    reason = " ".join(str(exc.reason or "").split()) or "no reason given"
    return f"WSManFaultError: {reason} ({', '.join(codes)})"


def connection_failure(exc: BaseException) -> str | None:
    """``connection refused`` and the like when ``exc`` is a failure to connect; else None."""
    if not isinstance(exc, _CONNECT_ERRORS):
        return None
    chain = list(_chain(exc))
    text = " ".join(str(e) for e in chain).lower()
    for types, phrases, words in _CONNECTION_WORDS:
        if (types and any(isinstance(e, types) for e in chain)) or any(p in text for p in phrases):
            return words
    return None


# Push staging: each D frame carries UPLOAD_CHUNK bytes (base64 in the frame); one Send carries
# UPLOAD_FRAMES_PER_SEND of them. pywinrm base64-encodes a Send's stdin bytes once more into the
# SOAP envelope, so a Send is ~4/3 * 4/3 * 48 KiB * 3 = 256 KiB, half of WinRM's default
# MaxEnvelopeSizekb (500; Microsoft Learn, "Installation and configuration for Windows Remote
# Management"): well within it, with room for the envelope and the encryption framing.
UPLOAD_CHUNK = 48 * 1024
UPLOAD_FRAMES_PER_SEND = 3

OutcomeStatus = Literal["done", "skipped", "failed", "timeout", "cancelled"]


class SessionLost(RuntimeError):
    """The WinRM session broke. ``may_have_started``: the step may have run on the host, so it
    is retried only when its check can prove completion or it is read-only."""

    def __init__(self, message: str, *, may_have_started: bool) -> None:
        super().__init__(message)
        self.may_have_started = may_have_started


class LoginRefused(SessionLost):
    """The host refused the WinRM login: retrying cannot help."""


class StepFailed(RuntimeError):
    """A read-only script failed (run_readonly)."""


@dataclass
class StepOutcome:
    step_id: str
    status: OutcomeStatus
    output: Any = None
    error: str | None = None  # redacted
    error_id: str | None = None
    log: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    requests: int = 0


def secret_frame(name: str, cred: Credential) -> str:
    """``S <name> <user> <password>``, each base64 of UTF-8: read by the loader with .NET string
    methods only, so the password never binds to a cmdlet parameter (Module Logging)."""
    fields = (name, cred.user, cred.password)
    return "S " + " ".join(base64.b64encode(f.encode("utf-8")).decode("ascii") for f in fields)


def file_sha256(path: str) -> str:
    """The upper-case hex SHA-256 of a file on the worker, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest().upper()


def upload_sends(upload: Upload) -> Iterator[bytes]:
    """The stdin bytes of each Send that streams ``upload``: ``U <dest>``, then ``D`` frames."""
    head = "U " + base64.b64encode(upload.dest.encode("utf-8")).decode("ascii") + "\n"
    batch = [head.encode("ascii")]
    with open(upload.source, "rb") as fh:
        while True:
            chunk = fh.read(UPLOAD_CHUNK)
            if not chunk:
                break
            batch.append(b"D " + base64.b64encode(chunk) + b"\n")
            if len(batch) >= UPLOAD_FRAMES_PER_SEND:
                yield b"".join(batch)
                batch = []
    if batch:
        yield b"".join(batch)


def bootstrap_script() -> str:
    return BOOTSTRAP_PATH.read_text(encoding="utf-8")


def make_protocol(host: HostConfig, login: Credential, operation_timeout_s: int) -> Protocol:
    """pywinrm Protocol as the host is configured: never plaintext, validation on unless the
    inventory explicitly says ignore (which every plan flags)."""
    kwargs: dict[str, Any] = {
        "endpoint": host.url,
        "transport": host.transport,
        "username": login.user,
        "password": login.password,
        "message_encryption": host.message_encryption,
        "operation_timeout_sec": operation_timeout_s,
        "read_timeout_sec": operation_timeout_s + 10,
        "proxy": None,
        "ca_trust_path": None,
    }
    if host.scheme == "https":
        kwargs["server_cert_validation"] = "ignore" if host.insecure else "validate"
        # Explicit: the inventory's CA file, else the default bundle (never env-dependent).
        kwargs["ca_trust_path"] = host.ca_trust_path or None
    kerberos: tuple[str, str] | None = None
    if host.transport == "kerberos" and host.realm:
        principal = kerberos_login.principal_of(login.user, host.realm)
        # pywinrm's kerberos transport takes its ticket from the credential cache, not a password
        kwargs.update(username=principal, password=None)
        if host.fqdn and host.fqdn != host.address.lower():
            kwargs["kerberos_hostname_override"] = host.fqdn  # the SPN is HTTP/<fqdn>
        kerberos = (principal, login.password)
    return _without_environment(Protocol(**kwargs), kerberos=kerberos)


_SESSION_BUILD = threading.Lock()


def _without_environment(protocol: Protocol, kerberos: tuple[str, str] | None = None) -> Protocol:
    """Keep this protocol's HTTP session from touching ``os.environ`` once it is built.

    With ``proxy=None`` (WinRM never goes through an environment proxy) pywinrm hands requests
    ``no_proxy='*'``, and requests then sets and deletes ``os.environ['no_proxy']`` around every
    request it sends (psf/requests#4997). Threads talking to several hosts at once race on that
    variable, and a request fails with ``KeyError: 'no_proxy'``. So sessions are built (proxy
    settings merged, encryption handshake sent) one at a time, and a built session no longer
    reads the environment at all.

    Kerberos (``kerberos`` = principal, password): under the same lock a fresh ticket is taken
    into this process's memory cache and made the default (``KRB5CCNAME``), and the security
    context is established before the lock is let go (pywinrm's encryption handshake does it
    over http; over https an empty POST does), so sessions of different principals never read
    one another's cache."""
    transport = protocol.transport
    build = transport.build_session

    def build_session() -> requests.Session:
        if transport.session is not None:
            return transport.session
        with _SESSION_BUILD:
            if kerberos is not None:
                kerberos_login.login(*kerberos)
            session = build()
            if kerberos is not None and transport.endpoint.startswith("https"):
                session.post(transport.endpoint, data=b"", timeout=transport.read_timeout_sec)
        session.trust_env = False
        return session

    transport.build_session = build_session  # type: ignore[method-assign]
    return protocol


class RunbookSession:
    """A live PowerShell session on one host; not thread-safe (one runner thread per host)."""

    def __init__(
        self,
        host: HostConfig,
        login: Credential,
        *,
        operation_timeout_s: int = 5,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.redactor = redactor or default_redactor
        self.redactor.add(login.password)
        self.clock = clock
        self.requests = 0
        self.log: list[str] = []
        self._sent: set[str] = set()
        self._buffer = b""
        self._results: dict[str, dict[str, Any]] = {}
        self._stderr = b""
        self._alive = False
        self._shell = ""
        self._command = ""
        try:
            self._proto = make_protocol(host, login, operation_timeout_s)
            self._shell = self._call(lambda: self._proto.open_shell(codepage=65001))
            # One command string, as pywinrm's run_ps sends it: WS-Man joins Arguments into the
            # command line anyway, and some listeners mis-split a separate Arguments element.
            command = f"{POWERSHELL} -NoProfile -NonInteractive -EncodedCommand "
            command += encode_command(bootstrap_script())
            # Pipe mode: the loader reads stdin as data. Console mode (pywinrm's default) is for
            # an interactive console; Ansible sends FALSE whenever it feeds stdin to
            # powershell -EncodedCommand (MS-WSMV 3.1.4.11, WINRS_CONSOLEMODE_STDIN).
            self._command = self._call(
                lambda: self._proto.run_command(
                    self._shell, command, skip_cmd_shell=True, console_mode_stdin=False
                )
            )
        except InvalidCredentialsError:
            self._drop()
            raise LoginRefused(
                f"{host.name}: the WinRM login {login.user} was refused (wrong password or "
                "not allowed on this host)",
                may_have_started=False,
            ) from None
        except kerberos_login.KerberosLoginError as exc:
            self._drop()
            raise LoginRefused(f"{host.name}: {exc}", may_have_started=False) from None
        except _TRANSPORT_ERRORS as exc:
            self._drop()
            words = connection_failure(exc)
            raise SessionLost(
                f"{host.name}: cannot connect to {host.name}:{host.port}: {words}"
                if words
                else f"{host.name}: cannot open a WinRM session: {self._describe(exc)}",
                may_have_started=False,
            ) from None
        self._alive = True

    # --- plumbing ------------------------------------------------------------------------

    def _call(self, fn: Callable[[], Any]) -> Any:
        self.requests += 1
        return fn()

    def _describe(self, exc: BaseException) -> str:
        words = connection_failure(exc)
        if words:
            return words
        if isinstance(exc, WSManFaultError):
            text = fault_text(exc)
        else:
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return self.redactor.redact(text)[:500]

    def _drop(self) -> None:
        self._alive = False

    @property
    def shell_id(self) -> str:
        return self._shell

    def discard_shell(self, shell_id: str) -> None:
        """Delete a shell left behind by a lost connection (best effort), so the host ends its
        orphaned powershell.exe instead of keeping it (and any sign-in in it) until WinRM's
        idle timeout. A broken connection cannot do this itself; this live one can."""
        if shell_id and shell_id != self._shell:
            with contextlib.suppress(Exception):
                self._call(lambda: self._proto.close_shell(shell_id))

    @property
    def alive(self) -> bool:
        return self._alive

    def _take_lines(self, chunk: bytes) -> None:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            if line.startswith(MARKER):
                try:
                    result = json.loads(line[len(MARKER) :])
                except ValueError:
                    self.log.append(self.redactor.redact(line))
                    continue
                self._results[str(result.get("id") or "")] = result
            elif line.strip():
                self.log.append(self.redactor.redact(line))

    def _stderr_lines(self) -> list[str]:
        text = self._stderr.decode("utf-8", errors="replace")
        return [self.redactor.redact(line) for line in parse_clixml(text)]

    def _wait_for(
        self,
        step_id: str,
        *,
        deadline: float,
        before_start: bool = False,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict[str, Any] | OutcomeStatus:
        """Receive until the result line for ``step_id`` arrives; 'timeout'/'cancelled' when the
        deadline passes or stop is asked (the command is then terminated)."""
        while step_id not in self._results:
            if should_stop is not None and should_stop():
                self.terminate()
                return "cancelled"
            if self.clock() >= deadline:
                self.terminate()
                if before_start:
                    raise SessionLost(
                        f"{self.host.name}: PowerShell did not start in time",
                        may_have_started=False,
                    )
                return "timeout"
            try:
                out, err, code, done = self._call(
                    lambda: self._proto.get_command_output_raw(self._shell, self._command)
                )
            except WinRMOperationTimeoutError:
                continue
            except _TRANSPORT_ERRORS as exc:
                self._drop()
                raise SessionLost(
                    f"{self.host.name}: WinRM session lost: {self._describe(exc)}",
                    may_have_started=not before_start,
                ) from None
            self._stderr += err
            self._take_lines(out)
            if done and step_id not in self._results:
                self._drop()
                detail = " ".join(self._stderr_lines()) or "no error output"
                raise SessionLost(
                    f"{self.host.name}: the PowerShell session ended (exit {code}): {detail}",
                    may_have_started=not before_start,
                )
        return self._results.pop(step_id)

    # --- public --------------------------------------------------------------------------

    def run_step(
        self,
        step: Step,
        secrets: dict[str, Credential],
        *,
        should_stop: Callable[[], bool] | None = None,
        lead: bytes = b"",
    ) -> StepOutcome:
        """Run ``step`` (its check first, inside the loader) and report what happened.
        ``lead``: data frames sent in the same Send, before the step's frames."""
        if step.upload is not None:
            return self._run_upload(step, secrets, should_stop=should_stop)
        if not self._alive:
            raise SessionLost(f"{self.host.name}: the session is closed", may_have_started=False)
        started = self.clock()
        before = self.requests
        frames: list[str] = []
        for name in step.credentials:
            if name in self._sent:
                continue
            if name not in secrets:
                raise KeyError(f"step {step.id} needs secret '{name}', which was not resolved")
            cred = secrets[name]
            self.redactor.add(cred.password)
            frames.append(secret_frame(name, cred))
        frames.append(
            json.dumps(
                {"type": "step", "id": step.id, "check": step.check or "", "script": step.script},
                ensure_ascii=True,
            )
        )
        data = lead + "".join(f + "\n" for f in frames).encode("ascii")
        self._results.pop(step.id, None)
        self._stderr = b""
        log_from = len(self.log)
        try:
            self._call(lambda: self._proto.send_command_input(self._shell, self._command, data))
        except _TRANSPORT_ERRORS as exc:
            self._drop()
            raise SessionLost(
                f"{self.host.name}: WinRM session lost sending step {step.id}: "
                f"{self._describe(exc)}",
                may_have_started=True,
            ) from None
        self._sent.update(step.credentials)
        got = self._wait_for(step.id, deadline=started + step.timeout_s, should_stop=should_stop)
        outcome = StepOutcome(step_id=step.id, status="failed")
        outcome.log = self.log[log_from:]
        outcome.stderr = self._stderr_lines()
        if got == "timeout":
            outcome.status = "timeout"
            outcome.error = f"{step.id} timed out after {step.timeout_s:g} s and was stopped"
        elif got == "cancelled":
            outcome.status = "cancelled"
            outcome.error = f"{step.id} was cancelled while running"
        elif isinstance(got, dict):
            status = str(got.get("status") or "failed")
            outcome.status = status if status in ("done", "skipped") else "failed"  # type: ignore[assignment]
            outcome.output = got.get("output")
            err = got.get("error")
            if outcome.status == "failed":
                message = str(err.get("message") if isinstance(err, dict) else err or "")
                if not message:
                    message = " ".join(outcome.stderr) or "the step failed with no message"
                outcome.error = self.redactor.redact(message)
                if isinstance(err, dict) and err.get("id"):
                    outcome.error_id = str(err.get("id"))
        outcome.duration_s = self.clock() - started
        outcome.requests = self.requests - before
        return outcome

    def _send(self, data: bytes) -> None:
        self._call(lambda: self._proto.send_command_input(self._shell, self._command, data))

    def _run_upload(
        self,
        step: Step,
        secrets: dict[str, Credential],
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> StepOutcome:
        """Push staging: the check (with the prepare script), then the file streamed as U/D
        data frames, then the step's script, which hashes and checks what arrived."""
        upload = step.upload
        assert upload is not None
        started = self.clock()
        before = self.requests
        prepare = Step(
            step.id + ":prepare", step.title, upload.prepare, check=step.check, kind="read"
        )
        first = self.run_step(prepare, secrets, should_stop=should_stop)
        if first.status != "done":
            first.step_id = step.id
            return first
        outcome = StepOutcome(step_id=step.id, status="failed")
        try:
            local = file_sha256(upload.source)
        except OSError as exc:
            outcome.error = f"cannot read the installer on the worker: {exc.strerror or exc}"
            return outcome
        if local != upload.sha256.upper():
            outcome.error = (
                f"the installer on the worker ({upload.source}) has SHA-256 {local}, not the "
                f"pinned {upload.sha256.upper()}: nothing was sent"
            )
            return outcome
        self._results.pop("frame", None)
        try:
            last = self._stream(step, upload, started + step.timeout_s, should_stop, outcome)
        except OSError as exc:  # the file went away after it was hashed
            outcome.error = f"cannot read the installer on the worker: {exc.strerror or exc}"
            return outcome
        if last is None:
            return outcome
        rest = max(1.0, started + step.timeout_s - self.clock())
        final = self.run_step(  # the last data frames and the step's frame share one Send
            replace(step, check=None, upload=None, timeout_s=rest),
            secrets,
            should_stop=should_stop,
            lead=last,
        )
        broken = self._results.pop("frame", None)
        if final.status == "failed" and isinstance(broken, dict) and broken.get("error"):
            err = broken["error"]
            detail = str(err.get("message") if isinstance(err, dict) else err)
            final.error = (
                f"{final.error} (writing the upload failed: {self.redactor.redact(detail)})"
            )
        final.log = first.log + final.log
        final.duration_s = self.clock() - started
        final.requests = self.requests - before
        return final

    def _stream(
        self,
        step: Step,
        upload: Upload,
        deadline: float,
        should_stop: Callable[[], bool] | None,
        outcome: StepOutcome,
    ) -> bytes | None:
        """Send every batch of frames but the last, which is returned to go with the step's
        frame; None when stopped (``outcome`` then says why)."""
        sends = upload_sends(upload)
        last = next(sends)
        for data in sends:
            data, last = last, data
            if (should_stop is not None and should_stop()) or self.clock() >= deadline:
                self.terminate()
                stopped = should_stop is not None and should_stop()
                outcome.status = "cancelled" if stopped else "timeout"
                outcome.error = f"{step.id} was stopped while sending the installer"
                return None
            try:
                self._send(data)
            except _TRANSPORT_ERRORS as exc:
                self._drop()
                raise SessionLost(
                    f"{self.host.name}: WinRM session lost sending the installer: "
                    f"{self._describe(exc)}",
                    may_have_started=True,
                ) from None
        return last

    def terminate(self) -> None:
        """Stop the running command (terminate signal); the session is over after this."""
        if self._alive and self._command:
            with contextlib.suppress(Exception):  # best effort: close deletes the shell anyway
                self._call(lambda: self._proto.cleanup_command(self._shell, self._command))
        self._drop()

    def close(self) -> None:
        """Delete the shell (best effort): Windows ends its processes with it, so neither an
        exit frame nor a terminate signal is worth a round trip once every step has answered."""
        if not self._shell:
            return
        if self._alive:  # a lost connection cannot delete it; the next session does
            with contextlib.suppress(Exception):
                self._call(lambda: self._proto.close_shell(self._shell))
            self._shell = ""
        self._drop()

    def __enter__(self) -> RunbookSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_readonly(
    host: HostConfig,
    login: Credential,
    script: str,
    *,
    session: RunbookSession | None = None,
    timeout_s: float = 120.0,
    step_id: str = "read",
    **session_kwargs: Any,
) -> dict[str, Any]:
    """Run one read-only script and return its output (a dict; non-dict output is wrapped as
    ``{"output": ...}``). Reuses ``session`` when given, else opens and closes its own."""
    step = Step(step_id, "read-only query", script, timeout_s=timeout_s, kind="read")
    own = session is None
    live = session or RunbookSession(host, login, **session_kwargs)
    try:
        outcome = live.run_step(step, {})
    finally:
        if own:
            live.close()
    if outcome.status != "done":
        raise StepFailed(outcome.error or f"{step_id} {outcome.status}")
    out = outcome.output
    return out if isinstance(out, dict) else {"output": out}
