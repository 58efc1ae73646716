"""One HTTP/1.1 connection to the simulated WinRM listener.

The handler instance lives as long as its TCP connection, which is exactly the scope of an NTLM
security context on Windows, so the context is kept on the instance.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import socket
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from simulator.contract import Fault
from simulator.wsman import encryption, soap
from simulator.wsman.auth import AuthError, NtlmSession, SecurityContext, looks_like_kerberos

if TYPE_CHECKING:
    from simulator.wsman.listener import WsmanServer

log = logging.getLogger(__name__)
SOAP_TYPE = "application/soap+xml;charset=UTF-8"
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
_REASONS |= {405: "Method Not Allowed", 411: "Length Required", 500: "Internal Server Error"}


class _Drop(Exception):
    """Close the TCP connection without answering."""


class WsmanHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    wsman: WsmanServer  # set on the subclass each server makes

    # -- connection lifecycle -----------------------------------------------------------------
    def setup(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.wsman.cert is not None:
            self.request = self.wsman.cert.context.wrap_socket(sock, server_side=True)
        self.wsman.track(self.request, add=True)
        super().setup()
        # the security context of this connection (Windows authenticates the connection)
        self.ntlm: SecurityContext | None = None
        self._auth_reply: str | None = None  # the final token for mutual authentication

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.wsman.track(self.request, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines can be noisy and bodies are never logged."""

    # -- plumbing ---------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding"):
                self._respond(411, b"")
                raise _Drop
            return b""
        return self.rfile.read(int(length)) if int(length) > 0 else b""

    def _respond(
        self,
        status: int,
        body: bytes,
        ctype: str | None = None,
        extra: Sequence[tuple[str, str]] = (),
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
            "Server: Microsoft-HTTPAPI/2.0",
        ]
        if ctype and body:
            lines.append(f"Content-Type: {ctype}")
        lines.extend(f"{k}: {v}" for k, v in extra)
        if self._auth_reply is not None and status != 401:
            lines.append(f"WWW-Authenticate: {self._auth_reply}")
            self._auth_reply = None
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.request.shutdown(socket.SHUT_RDWR)

    def _challenge(self, token: str | None = None, scheme: str = "Negotiate") -> None:
        if token is None:
            headers = [("WWW-Authenticate", v) for v in self.wsman.authenticator.challenge_header()]
        else:
            headers = [("WWW-Authenticate", f"{scheme} {token}")]
        self._respond(401, b"", extra=headers)

    # -- verbs ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            path = self.path.split("?", 1)[0]
            if path.startswith("/_sim/"):
                self._control(method, path)
            elif path.lower() == "/wsman" and method == "POST":
                self._wsman()
            elif path.lower() == "/wsman":
                self._read_body()
                self._respond(405, b"")
            else:
                self._read_body()
                self._respond(404, b"")
        except _Drop:
            self._drop()

    # -- WS-Management ----------------------------------------------------------------------
    def _wsman(self) -> None:
        body = self._read_body()
        record = self.wsman.host.record
        with record.lock:
            record.http_requests += 1
        principal, method = self._authenticate()
        if principal is None:
            return
        if not body:
            self._respond(200, b"")  # pywinrm's empty POST that finishes the handshake
            return
        sealed = encryption.is_encrypted(self.headers.get("Content-Type", ""))
        if sealed:
            if self.ntlm is None or method not in ("ntlm", "kerberos", "credssp"):
                self._respond(400, b"")
                return
            try:
                body = encryption.decrypt(body, self.ntlm)
            except (AuthError, encryption.FramingError, ValueError):
                self._respond(400, b"")
                return
        elif method in ("ntlm", "kerberos", "credssp") and self.wsman.cert is None:
            # AllowUnencrypted=false: a plain body over http is refused as Windows does.
            fault = soap.fault_body(soap.access_denied(), "", self.wsman.host.name)
            self._respond(401, fault, SOAP_TYPE, [("WWW-Authenticate", "Negotiate")])
            return
        status, answer = self._soap(body, principal)
        if sealed and self.ntlm is not None:
            self._respond(
                status,
                encryption.encrypt(answer, self.ntlm, method),
                encryption.content_type(method),
            )
        else:
            self._respond(status, answer, SOAP_TYPE)

    def _authenticate(self) -> tuple[str | None, str]:
        """Return (principal, method) or answer 401 and return (None, '')."""
        auth = self.wsman.authenticator
        header = self.headers.get("Authorization")
        if not header:
            if self.ntlm is not None and self.ntlm.complete:
                return self.ntlm.principal, self._method()
            self._challenge()
            return None, ""
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() in ("negotiate", "ntlm", "kerberos"):
            try:
                raw = base64.b64decode(token.strip(), validate=True)
            except (binascii.Error, ValueError):
                self.ntlm = None
                self._challenge()
                return None, ""
            return self._negotiate(scheme, raw)
        if scheme.lower() == "credssp" and auth.allow_credssp:
            try:
                raw = base64.b64decode(token.strip(), validate=True)
            except (binascii.Error, ValueError):
                self.ntlm = None
                self._challenge()
                return None, ""
            return self._credssp(raw)
        if scheme.lower() == "basic" and auth.allow_basic:
            try:
                return auth.check_basic(token.strip()), "basic"
            except AuthError:
                pass
        self._challenge()
        return None, ""

    def _method(self) -> str:
        return self.ntlm.method if self.ntlm is not None else ""

    def _negotiate(self, scheme: str, token: bytes) -> tuple[str | None, str]:
        """One leg of Negotiate: Kerberos (a GSS-API token) or NTLM (an NTLMSSP message)."""
        auth = self.wsman.authenticator
        kerberos = looks_like_kerberos(token)
        if (kerberos and auth.kerberos is None) or (not kerberos and not auth.allow_ntlm):
            self.ntlm = None
            self._challenge()  # offers only what the host accepts
            return None, ""
        if self.ntlm is None or self.ntlm.complete:
            if kerberos:
                self.ntlm = auth.kerberos.session()
            else:
                self.ntlm = NtlmSession(auth, self.wsman.cert.cbt_hash if self.wsman.cert else None)
        try:
            out = self.ntlm.step(token)
        except AuthError:
            self.ntlm = None
            self._challenge()
            return None, ""
        if not self.ntlm.complete:
            self._challenge(base64.b64encode(out or b"").decode("ascii"), scheme)
            return None, ""
        if kerberos and out:
            self._auth_reply = f"{scheme} {base64.b64encode(out).decode('ascii')}"
        return self.ntlm.principal, self._method()

    def _credssp(self, token: bytes) -> tuple[str | None, str]:
        """One leg of CredSSP: every leg but the last is answered 401 with the next token."""
        if self.ntlm is None or self.ntlm.complete or self.ntlm.method != "credssp":
            from simulator.wsman.credssp import CredSspSession

            self.ntlm = CredSspSession(self.wsman.authenticator)
        try:
            out = self.ntlm.step(token)
        except AuthError:
            self.ntlm = None
            self._challenge()
            return None, ""
        if not self.ntlm.complete:
            self._challenge(base64.b64encode(out or b"").decode("ascii"), "CredSSP")
            return None, ""
        return self.ntlm.principal, "credssp"

    def _soap(self, body: bytes, principal: str) -> tuple[int, bytes]:
        host = self.wsman.host
        limit_kb = int(getattr(host, "max_envelope_kb", 500))  # WinRM MaxEnvelopeSizekb
        if len(body) > limit_kb * 1024:
            return 500, soap.fault_body(soap.envelope_too_large(limit_kb), "", host.name)
        try:
            req = soap.parse_request(body)
        except soap.SoapParseError as exc:
            return 500, soap.fault_body(soap.invalid_request(str(exc)), "", host.name)
        if req.header_fault is not None:
            return 500, soap.fault_body(req.header_fault, req.message_id, host.name)
        fault = host.faults.take_http(req.operation)
        if fault is not None:
            early = self._apply_fault(fault, req)
            if early is not None:
                return early
        try:
            delegated = self._method() == "credssp"
            return 200, self.wsman.shells.handle(req, principal, delegated=delegated)
        except soap.WsmanFault as exc:
            return 500, soap.fault_body(exc, req.message_id, host.name)
        except Exception as exc:
            # Only the type: an engine message could quote a script, and scripts carry secrets.
            log.error("wsman %s on %s failed: %s", req.operation, host.name, type(exc).__name__)
            return 500, soap.fault_body(soap.internal_error(), req.message_id, host.name)

    def _apply_fault(self, fault: Fault, req: soap.Request) -> tuple[int, bytes] | None:
        """Apply an HTTP-level fault; return an early answer, None to answer normally."""
        host = self.wsman.host
        if fault.kind == "latency":
            time.sleep(fault.seconds)
            return None
        if fault.kind == "hang":
            time.sleep(fault.seconds)
            raise _Drop
        if fault.kind == "drop":
            raise _Drop
        if fault.kind in ("http500", "fail"):
            return 500, soap.fault_body(
                soap.internal_error(fault.message), req.message_id, host.name
            )
        if fault.kind == "restart_service":
            self.wsman.shells.restart()
            host.record.event("winrm_restarted")
        return None

    # -- control endpoints -------------------------------------------------------------------
    def _control(self, method: str, path: str) -> None:
        body = self._read_body()
        if not self.client_address[0].startswith("127."):
            self._respond(403, b"")
            return
        host = self.wsman.host
        result: Any
        if method == "GET" and path == "/_sim/health":
            result = {"ok": True, "host": host.name, "shells": self.wsman.shells.shell_count()}
        elif method == "GET" and path == "/_sim/record":
            result = host.record.to_dict()
        elif method == "POST" and path == "/_sim/faults":
            try:
                fault = Fault.from_dict(json.loads(body or b"{}"))
            except (ValueError, KeyError, TypeError):
                self._respond(400, b'{"error": "bad fault"}', "application/json")
                return
            host.faults.add(fault)
            result = {"ok": True, "faults": [f.to_dict() for f in host.faults.all()]}
        elif method == "GET" and path == "/_sim/faults":
            result = [f.to_dict() for f in host.faults.all()]
        elif method == "DELETE" and path == "/_sim/faults":
            host.faults.clear()
            result = {"ok": True}
        elif method == "POST" and path == "/_sim/record/reset":
            _reset_record(host.record)
            result = {"ok": True}
        else:
            self._respond(404, b"")
            return
        self._respond(200, json.dumps(result, default=str).encode(), "application/json")


def _reset_record(record: Any) -> None:
    with record.lock:
        record.script_blocks.clear()
        record.command_lines.clear()
        record.cmdlets.clear()
        record.events.clear()
        record.module_log.clear()
        record.winrs_commands.clear()
        record.http_requests = 0
