"""A private MIT Kerberos realm on loopback for the tests: its own database, keytabs and
``krb5.conf`` in a temporary folder; nothing system-wide is read or changed.

Debian's ``krb5-kdc`` and ``krb5-admin-server`` provide ``krb5kdc``, ``kdb5_util`` and
``kadmin.local``; the realm's files follow MIT's documented layout (``krb5.conf`` with the
realm's ``kdc`` address and DNS lookups off, ``kdc.conf`` with ports, database and stash in the
folder). The KDC runs in the foreground (``-n``) and is stopped by its pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local")
SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
INSTALL_HINT = (
    "Kerberos tests need MIT Kerberos: apt-get install krb5-kdc krb5-admin-server libkrb5-dev, "
    "then make test (it installs the 'kerberos' extra: pykerberos, gssapi)"
)


def tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in SBIN:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing() -> list[str]:
    """What is absent for the Kerberos tests: tools and Python modules."""
    absent = [name for name in TOOLS if tool(name) is None]
    for module in ("kerberos", "gssapi"):
        try:
            __import__(module)
        except ImportError:
            absent.append(f"python module {module}")
    return absent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Realm:
    """A running KDC for ``name`` with its files under ``folder``."""

    folder: Path
    name: str = "CONTOSO.TEST"
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def krb5_conf(self) -> Path:
        return self.folder / "krb5.conf"

    @property
    def kdc_conf(self) -> Path:
        return self.folder / "kdc.conf"

    @property
    def env(self) -> dict[str, str]:
        """The variables a process needs to use this realm (and nothing else)."""
        return {"KRB5_CONFIG": str(self.krb5_conf), "KRB5_KDC_PROFILE": str(self.kdc_conf)}

    def _run(self, *argv: str) -> str:
        done = subprocess.run(
            argv, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def kadmin(self, query: str) -> str:
        return self._run(str(tool("kadmin.local")), "-q", query)

    def start(self) -> Realm:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = self.port or _free_port()
        self.krb5_conf.write_text(
            "[libdefaults]\n"
            f"  default_realm = {self.name}\n"
            "  dns_lookup_kdc = false\n"
            "  dns_lookup_realm = false\n"
            "  rdns = false\n"
            "  dns_canonicalize_hostname = false\n"
            "  udp_preference_limit = 1\n"  # TCP: no UDP retries in a test
            "  ticket_lifetime = 10h\n"
            "[realms]\n"
            f"  {self.name} = {{\n    kdc = 127.0.0.1:{self.port}\n  }}\n"
            "[domain_realm]\n"
            f"  .{self.name.lower()} = {self.name}\n"
        )
        self.kdc_conf.write_text(
            "[kdcdefaults]\n"
            f"  kdc_ports = {self.port}\n"
            f"  kdc_tcp_ports = {self.port}\n"
            "[realms]\n"
            f"  {self.name} = {{\n"
            f"    database_name = {self.folder / 'principal'}\n"
            f"    key_stash_file = {self.folder / 'stash'}\n"
            f"    acl_file = {self.folder / 'kadm5.acl'}\n"
            "    max_life = 10h 0m 0s\n"
            "    supported_enctypes = aes256-cts-hmac-sha1-96:normal"
            " aes128-cts-hmac-sha1-96:normal\n"
            "  }\n"
            "[logging]\n"
            f"  kdc = FILE:{self.folder / 'kdc.log'}\n"
        )
        (self.folder / "kadm5.acl").write_text("")
        self._run(str(tool("kdb5_util")), "create", "-s", "-r", self.name, "-P", "master-Pass-1")
        self._proc = subprocess.Popen(
            [str(tool("krb5kdc")), "-n", "-r", self.name],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self._proc.poll() is not None:
                    raise RuntimeError("krb5kdc exited at start") from None
                time.sleep(0.05)
        raise RuntimeError("krb5kdc did not listen within 10 s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # principals ---------------------------------------------------------------------------
    def add_user(self, user: str, password: str) -> str:
        """A user that must pre-authenticate, as Active Directory requires by default."""
        principal = f"{user}@{self.name}"
        self.kadmin(f"addprinc +requires_preauth -pw {password} {principal}")
        return principal

    def add_service(self, spn: str, keytab: Path) -> Path:
        """A random-key service principal (``HTTP/host.fqdn``) exported to ``keytab``."""
        principal = f"{spn}@{self.name}"
        self.kadmin(f"addprinc -randkey {principal}")
        self.kadmin(f"ktadd -k {keytab} {principal}")
        return keytab
