"""CredSSP as a Windows WinRM listener with ``Auth/CredSSP=true`` accepts it (MS-CSSP).

The client opens a TLS channel inside HTTP ``Authorization: CredSSP <token>`` headers (each leg
answered with a 401 carrying ``WWW-Authenticate: CredSSP <token>``), authenticates inside it with
NTLM (SPNEGO), proves the server's public key, and finally sends its credentials
(``TSCredentials``): the logon on the host is then an interactive-like logon that holds the
user's password, so it can reach a file share (the documented answer to the second hop:
Microsoft Learn, "Making the second hop in PowerShell Remoting", CredSSP). pyspnego implements
the acceptor (``spnego.server(protocol="credssp")``, with NTLM accounts from NTLM_USER_FILE).

Message encryption (MS-WSMV 2.2.9.1.3, ``application/HTTP-CredSSP-session-encrypted``): the
sealed part is ``<uint32 LE trailer length><TLS records>``; bodies over 16 KiB come as
``multipart/x-multi-encrypted``, one such part per 16 KiB chunk.
"""

from __future__ import annotations

import hmac

import spnego
import spnego.exceptions

from simulator.wsman.auth import Authenticator, AuthError


class CredSspSession:
    """The CredSSP acceptor context of one TCP connection."""

    method = "credssp"

    def __init__(self, authenticator: Authenticator) -> None:
        self._auth = authenticator
        self._ctx = spnego.server(protocol="credssp")
        self.principal: str | None = None

    @property
    def complete(self) -> bool:
        return self.principal is not None

    def step(self, token: bytes) -> bytes | None:
        try:
            out = self._ctx.step(token)
        except spnego.exceptions.SpnegoError as exc:
            raise AuthError("CredSSP logon denied") from exc
        if self._ctx.complete:
            self.principal = self._delegated_account()
        return out

    def _delegated_account(self) -> str:
        """The delegated credential must be a listed account with its right password."""
        creds = getattr(self._ctx, "_ts_credential", None)
        inner = getattr(creds, "credentials", None)
        user = str(getattr(inner, "username", "") or "")
        domain = str(getattr(inner, "domain_name", "") or "")
        password = str(getattr(inner, "password", "") or "")
        account = self._auth.accounts.get((domain.upper(), user.lower()))
        if account is None or not hmac.compare_digest(account.password, password):
            raise AuthError("the delegated credential is not an account of this host")
        return f"{account.domain}\\{account.user}"

    def wrap(self, data: bytes) -> tuple[bytes, bytes]:
        res = self._ctx.wrap_winrm(data)
        return res.header, res.data

    def unwrap(self, signature: bytes, sealed: bytes) -> bytes:
        try:
            return self._ctx.unwrap(signature + sealed).data
        except spnego.exceptions.SpnegoError as exc:
            raise AuthError("message decryption failed") from exc
