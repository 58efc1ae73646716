"""WsmanServer: one simulated host's WinRM listener (http or https) on its own loopback port."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterable
from http.server import ThreadingHTTPServer
from typing import Any

from simulator.wsman.auth import Account, Authenticator
from simulator.wsman.handler import WsmanHandler
from simulator.wsman.shells import DEFAULT_QUOTA, HostLike, ShellService
from simulator.wsman.tls import ServerCert, make_server_cert

AccountSpec = Account | tuple[str, str, str] | str


def to_account(spec: AccountSpec) -> Account:
    """Accept Account, (domain, user, password) or 'DOMAIN\\user:password'."""
    if isinstance(spec, Account):
        return spec
    if isinstance(spec, str):
        return Account.parse(spec)
    domain, user, password = spec
    return Account(domain, user, password)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client resets and failed TLS handshakes are normal here; stay quiet."""


class WsmanServer:
    """Serve WS-Management for ``host`` at ``/wsman`` plus ``/_sim/`` control endpoints.

    ``allow_basic`` also permits Basic over plain http (as if AllowUnencrypted were true for
    Basic); NTLM and Kerberos over http always require message encryption. ``allow_ntlm=False``
    refuses NTLM logons (a host hardened to the cloud sync prerequisites). ``keytab`` with
    ``fqdn`` accepts Kerberos for ``HTTP/<fqdn>`` with that keytab's keys (needs ``gssapi``, the
    simulator's ``kerberos`` extra).
    """

    def __init__(
        self,
        host: HostLike,
        *,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        accounts: Iterable[AccountSpec] = (),
        allow_basic: bool = False,
        https: bool = False,
        operation_quota: int = DEFAULT_QUOTA,
        allow_ntlm: bool = True,
        fqdn: str | None = None,
        keytab: str | None = None,
        allow_credssp: bool = False,
    ) -> None:
        self.host = host
        self.listen = listen
        self.https = https
        self.fqdn = fqdn
        parsed = [to_account(a) for a in accounts]
        kerberos = None
        if keytab:
            if not fqdn:
                raise ValueError(
                    "Kerberos needs the host's DNS name (fqdn) for its SPN HTTP/<fqdn>"
                )
            from simulator.wsman.kerberos import KerberosAcceptor  # gssapi only when asked for

            kerberos = KerberosAcceptor(fqdn, keytab, parsed)
        self.authenticator = Authenticator(
            parsed,
            allow_basic=allow_basic,
            allow_ntlm=allow_ntlm,
            kerberos=kerberos,
            allow_credssp=allow_credssp,
        )
        self.shells = ShellService(host, operation_quota=operation_quota)
        self.cert: ServerCert | None = None
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket | ssl.SSLSocket] = set()
        self._conns_lock = threading.Lock()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.https else "http"
        return f"{scheme}://{self.listen[0]}:{self.port}/wsman"

    @property
    def base_url(self) -> str:
        return self.url[: -len("/wsman")]

    @property
    def ca_cert_path(self) -> str | None:
        return self.cert.cert_path if self.cert else None

    def track(self, conn: socket.socket | ssl.SSLSocket, *, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def start(self) -> WsmanServer:
        if self._httpd is not None:
            return self
        if self.https:
            self.cert = make_server_cert()
        handler = type("BoundWsmanHandler", (WsmanHandler,), {"wsman": self})
        self._httpd = _HTTPServer(self.listen, handler)
        self.shells.url = self.url
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"wsman-{self.host.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.shells.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.cert is not None:
            self.cert.cleanup()

    def __enter__(self) -> WsmanServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
