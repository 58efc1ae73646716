"""Kerberos the way a domain-joined WinRM listener accepts it (HTTP ``Negotiate``).

A Windows host holds the keys of its own service principal ``HTTP/<fqdn>`` (the computer
account's keys); a client asks the KDC for a ticket to that SPN by the host's DNS name, never
its IP address (Microsoft Learn, "Authentication for remote connections": Kerberos needs the
computer name; an IP address falls back to NTLM, which a hardened host refuses). The simulator
accepts with MIT Kerberos through ``gssapi``, with acceptor credentials bound to exactly
``HTTP@<fqdn>`` from the host's keytab (the GSS-API credential store extension, so no
process-global ``KRB5_KTNAME``): a ticket for another SPN, an expired ticket or an
authenticator more than the realm's clock skew (five minutes by default, ``clockskew`` in
krb5.conf, as Active Directory's "Maximum tolerance for computer clock synchronization") away
from the host's clock is refused, and the client gets a 401 as from Windows.

Mutual authentication: the acceptor's AP-REP token goes back in ``WWW-Authenticate:
Negotiate <token>`` on the answer that completes the handshake (RFC 4559 section 5), which
pywinrm's Kerberos transport requires (``mutual_authentication=REQUIRED``).

Message encryption (MS-WSMV 2.2.9.1.1, the same ``HTTP-SPNEGO-session-encrypted`` framing as
NTLM): the sealed part is ``<uint32 LE header length><GSS wrap header><sealed data>``, made with
``gss_wrap_iov`` (header, data, padding buffers) and undone with ``gss_unwrap_iov``, as
pywinrm's ``authGSSWinRMEncryptMessage`` / ``authGSSWinRMDecryptMessage`` expect.
"""

from __future__ import annotations

import hmac
from pathlib import Path

import gssapi
import gssapi.raw as gss_raw
from gssapi.raw import IOV, IOVBufferType

from simulator.wsman.auth import Account, AuthError


class KerberosAcceptor:
    """One host's Kerberos identity: its SPN and the keytab holding its keys."""

    def __init__(self, fqdn: str, keytab: str | Path, accounts: list[Account]) -> None:
        self.fqdn = fqdn.lower()
        self.keytab = str(keytab)
        self.spn = f"HTTP/{self.fqdn}"
        self.accounts = accounts
        name = gssapi.Name(f"HTTP@{self.fqdn}", gssapi.NameType.hostbased_service)
        # Fails here (at start) when the keytab does not hold HTTP/<fqdn>: a misconfigured
        # rehearsal host says so at once instead of refusing every login later.
        self.credentials = gssapi.Credentials(
            name=name, usage="accept", store={"keytab": self.keytab}
        )

    def principal_for(self, client: str) -> str:
        """Map ``user@REALM`` to the host's ``DOMAIN\\user`` account, or refuse it.

        The realm's first label stands for the NetBIOS domain (CONTOSO.TEST -> CONTOSO), as
        a domain's NetBIOS name usually is; only listed accounts may log on."""
        user, _, realm = client.partition("@")
        netbios = realm.split(".")[0].upper()
        for acc in self.accounts:
            if acc.user.lower() == user.lower() and hmac.compare_digest(
                acc.domain.upper(), netbios
            ):
                return f"{acc.domain}\\{acc.user}"
        raise AuthError("account not allowed on this host")

    def session(self) -> KerberosSession:
        return KerberosSession(self)


class KerberosSession:
    """The Kerberos acceptor context of one TCP connection."""

    method = "kerberos"

    def __init__(self, acceptor: KerberosAcceptor) -> None:
        self._acceptor = acceptor
        self._ctx = gssapi.SecurityContext(creds=acceptor.credentials, usage="accept")
        self.principal: str | None = None

    @property
    def complete(self) -> bool:
        return self.principal is not None

    def step(self, token: bytes) -> bytes | None:
        """Accept the client's AP-REQ; return the AP-REP for mutual authentication."""
        try:  # gssapi keeps a failed step's error and raises it at the next attribute read
            out = self._ctx.step(token)
            complete = self._ctx.complete
        except gssapi.exceptions.GSSError as exc:
            raise AuthError("Kerberos logon denied") from exc
        if not complete:
            raise AuthError("Kerberos needs a single round trip here")
        self.principal = self._acceptor.principal_for(str(self._ctx.initiator_name))
        return out

    def wrap(self, data: bytes) -> tuple[bytes, bytes]:
        """Seal ``data``: (GSS header, sealed data and padding)."""
        iov = IOV(IOVBufferType.header, data, IOVBufferType.padding, std_layout=False)
        gss_raw.wrap_iov(self._ctx, iov, confidential=True)
        header, sealed, padding = (bytes(buf.value or b"") for buf in iov)
        return header, sealed + padding

    def unwrap(self, signature: bytes, sealed: bytes) -> bytes:
        iov = IOV(
            (IOVBufferType.header, False, signature),
            sealed,
            IOVBufferType.data,
            std_layout=False,
        )
        try:
            gss_raw.unwrap_iov(self._ctx, iov)
        except gssapi.exceptions.GSSError as exc:
            raise AuthError("message signature check failed") from exc
        return bytes(iov[1].value or b"")
