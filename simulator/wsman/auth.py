"""Authentication the way a stock Windows WinRM listener does it: NTLM (via Negotiate), Basic
only when enabled, per-host allowed accounts.

pyspnego's NTLM acceptor reads accounts from the file named by the process-global environment
variable NTLM_USER_FILE. Every WsmanServer in the process therefore shares one temp file holding
the union of all hosts' accounts (written with mode 0600, rewritten when a server registers more,
removed at exit); each server then rejects a valid login that is not in its own list. Setting
NTLM_USER_FILE yourself while servers run is not supported: the first registration overrides it.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import hmac
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import spnego
import spnego.exceptions


@dataclass(frozen=True)
class Account:
    domain: str
    user: str
    password: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.domain.upper(), self.user.lower())

    def __repr__(self) -> str:  # never show the password
        return f"Account({self.domain}\\{self.user})"

    @classmethod
    def parse(cls, spec: str) -> Account:
        """``DOMAIN\\user:password`` (the password may contain ':' and '\\')."""
        who, sep, password = spec.partition(":")
        domain, bs, user = who.partition("\\")
        if not sep or not bs or not domain or not user:
            raise ValueError("account must look like DOMAIN\\user:password")
        return cls(domain, user, password)


class _UserFile:
    """The process-wide NTLM_USER_FILE with the union of every server's accounts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[tuple[str, str], Account] = {}
        self._path: str | None = None

    def register(self, accounts: list[Account]) -> str:
        with self._lock:
            for acc in accounts:
                known = self._accounts.get(acc.key)
                if known is not None and not hmac.compare_digest(known.password, acc.password):
                    raise ValueError(
                        f"account {acc.domain}\\{acc.user} is registered with two different "
                        "passwords; NTLM_USER_FILE is process-global and can hold only one"
                    )
                self._accounts[acc.key] = acc
            if self._path is None:
                fd, self._path = tempfile.mkstemp(prefix="wsman-ntlm-", suffix=".users")
                os.close(fd)
                atexit.register(self._remove)
            text = "".join(f"{a.domain}:{a.user}:{a.password}\n" for a in self._accounts.values())
            tmp = self._path + ".new"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self._path)
            os.environ["NTLM_USER_FILE"] = self._path
            return self._path

    def _remove(self) -> None:
        if self._path:
            with contextlib.suppress(OSError):
                os.unlink(self._path)


USER_FILE = _UserFile()


def looks_like_kerberos(token: bytes) -> bool:
    """A GSS-API initial context token (RFC 2743 3.1, tag 0x60: Kerberos, or SPNEGO around
    it), not an NTLMSSP message."""
    return token[:1] == b"\x60"


class SecurityContext(Protocol):
    """The logon state of one connection: NTLM here, Kerberos in ``kerberos.py``."""

    method: str
    principal: str | None

    @property
    def complete(self) -> bool: ...

    def step(self, token: bytes) -> bytes | None: ...

    def wrap(self, data: bytes) -> tuple[bytes, bytes]: ...

    def unwrap(self, signature: bytes, sealed: bytes) -> bytes: ...


class AuthError(Exception):
    """The login failed (wrong password, unknown or not-allowed account, bad token)."""


class Authenticator:
    """Per-host account policy: which logons the host accepts (NTLM, Kerberos, Basic).

    ``allow_ntlm=False`` is a host built to the cloud sync prerequisites ("NTLM requirement":
    NTLM should not be enabled on the agent's server), e.g. with the policy "Network security:
    Restrict NTLM: Incoming NTLM traffic" set to deny all: an NTLM logon is refused with 401.
    ``kerberos`` (a ``KerberosAcceptor``) makes the host accept Kerberos for its SPN."""

    def __init__(
        self,
        accounts: list[Account],
        *,
        allow_basic: bool,
        allow_ntlm: bool = True,
        kerberos: Any = None,
        allow_credssp: bool = False,
    ) -> None:
        self.accounts = {a.key: a for a in accounts}
        self.allow_basic = allow_basic
        self.allow_ntlm = allow_ntlm
        # WinRM's Auth/CredSSP (off by default on Windows; Enable-WSManCredSSP -Role Server).
        # Its inner authentication here is NTLM (Kerberos inside CredSSP is not modelled), so
        # a host that refuses NTLM refuses CredSSP too: the stricter answer.
        self.allow_credssp = allow_credssp and allow_ntlm
        self.kerberos = kerberos  # KerberosAcceptor | None (imported only when used)
        if accounts and (allow_ntlm or allow_credssp):
            USER_FILE.register(accounts)

    def challenge_header(self) -> list[str]:
        """WWW-Authenticate values of a 401, as a stock listener offers them: Negotiate (which
        carries Kerberos or NTLM), Kerberos when the host accepts it, Basic only when enabled."""
        offers = ["Negotiate"]
        if self.kerberos is not None:
            offers.append("Kerberos")
        if self.allow_credssp:
            offers.append("CredSSP")
        if self.allow_basic:
            offers.append('Basic realm="WSMAN"')
        return offers

    def allowed(self, principal: str) -> bool:
        domain, _, user = principal.rpartition("\\")
        return (domain.upper(), user.lower()) in self.accounts

    def check_basic(self, token: str) -> str:
        """Validate a Basic credential; return DOMAIN\\user."""
        if not self.allow_basic:
            raise AuthError("basic authentication is disabled")
        try:
            raw = base64.b64decode(token, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthError("malformed basic credential") from exc
        who, _, password = raw.partition(":")
        domain, _, user = who.rpartition("\\")
        for acc in self.accounts.values():
            same_user = acc.user.lower() == user.lower()
            same_domain = not domain or acc.domain.upper() == domain.upper()
            if same_user and same_domain and hmac.compare_digest(acc.password, password):
                return f"{acc.domain}\\{acc.user}"
        raise AuthError("basic credential rejected")


class NtlmSession:
    """NTLM acceptor state of one TCP connection (Windows authenticates the connection)."""

    method = "ntlm"

    def __init__(self, authenticator: Authenticator, cbt_hash: bytes | None) -> None:
        self._auth = authenticator
        bindings = None
        if cbt_hash is not None:
            bindings = spnego.channel_bindings.GssChannelBindings(
                application_data=b"tls-server-end-point:" + cbt_hash
            )
        self._ctx = spnego.server(protocol="ntlm", channel_bindings=bindings)
        self.principal: str | None = None

    @property
    def complete(self) -> bool:
        return self.principal is not None

    def step(self, token: bytes) -> bytes | None:
        """One leg of the handshake: the challenge for a negotiate, None once authenticated."""
        try:
            out = self._ctx.step(token)
        except spnego.exceptions.SpnegoError as exc:
            raise AuthError("NTLM logon denied") from exc
        if self._ctx.complete:
            principal = self._ctx.client_principal or ""
            if not self._auth.allowed(principal):
                raise AuthError("account not allowed on this host")
            self.principal = principal
        return out

    def wrap(self, data: bytes) -> tuple[bytes, bytes]:
        """Seal ``data``: (signature, sealed)."""
        res = self._ctx.wrap(data, encrypt=True).data
        return res[:16], res[16:]

    def unwrap(self, signature: bytes, sealed: bytes) -> bytes:
        try:
            return self._ctx.unwrap(signature + sealed).data
        except spnego.exceptions.SpnegoError as exc:
            raise AuthError("message signature check failed") from exc
