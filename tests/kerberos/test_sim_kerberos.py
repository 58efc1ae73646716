"""Unmodified pywinrm with its ``kerberos`` transport, a ticket from a real MIT KDC, against the
simulated WinRM listener: as a domain-joined Windows host accepts it (Negotiate, mutual
authentication, MS-WSMV message encryption with the Kerberos session key), and refuses what
Windows refuses (a wrong SPN, an NTLM logon on a host with NTLM off, unencrypted http)."""

from __future__ import annotations

import contextlib
import glob
import http.client
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError

from bot.local.child_process import ends_with_parent
from simulator.wsman import WsmanServer
from simulator.wsman.standin import StandInHost
from tests.kerberos.conftest import KerberosLab
from workers.runbook import kerberos_login

ACCOUNT = "CONTOSO\\svc-cloudsync"


@pytest.fixture()
def ticket(kerberos_lab: KerberosLab) -> Iterator[str]:
    yield kerberos_login.login(kerberos_lab.principal, kerberos_lab.password)
    kerberos_login.destroy(kerberos_lab.principal)


def server(lab: KerberosLab, *, allow_ntlm: bool = False, keytab: str | None = None) -> WsmanServer:
    return WsmanServer(
        StandInHost("SYNC01"),
        accounts=[f"{ACCOUNT}:{lab.password}"],
        allow_ntlm=allow_ntlm,
        fqdn=lab.fqdn,
        keytab=keytab or str(lab.keytab),
    )


def kerberos_session(url: str, lab: KerberosLab, *, fqdn: str, encryption: str) -> winrm.Session:
    # The URL names 127.0.0.1 (loopback); the SPN comes from the host's DNS name, as it would
    # when the inventory gives an FQDN that resolves to the server.
    return winrm.Session(
        url,
        auth=(lab.principal, None),  # type: ignore[arg-type]
        transport="kerberos",
        message_encryption=encryption,
        kerberos_hostname_override=fqdn,
    )


@pytest.mark.parametrize("encryption", ["auto", "always"])
def test_kerberos_logon_with_message_encryption(
    kerberos_lab: KerberosLab, ticket: str, encryption: str
) -> None:
    with server(kerberos_lab) as srv:
        session = kerberos_session(
            srv.url, kerberos_lab, fqdn=kerberos_lab.fqdn, encryption=encryption
        )
        first = session.run_cmd("hostname")
        second = session.run_cmd("hostname")
    assert (first.status_code, first.std_out) == (0, b"SYNC01\r\n")
    assert second.std_out == b"SYNC01\r\n"


def test_a_ticket_for_another_spn_is_refused(kerberos_lab: KerberosLab, ticket: str) -> None:
    with server(kerberos_lab) as srv:
        session = kerberos_session(
            srv.url, kerberos_lab, fqdn=kerberos_lab.other_fqdn, encryption="always"
        )
        with pytest.raises((InvalidCredentialsError, WinRMTransportError)):
            session.run_cmd("hostname")
        assert srv.shells.shell_count() == 0


def test_ntlm_is_refused_on_a_host_with_ntlm_off(kerberos_lab: KerberosLab) -> None:
    with server(kerberos_lab) as srv:
        ntlm = winrm.Session(srv.url, auth=(ACCOUNT, kerberos_lab.password), transport="ntlm")
        # requests-ntlm's words when the 401 carries no NTLM challenge, as from a host whose
        # "Restrict NTLM: Incoming NTLM traffic" policy denies all
        with pytest.raises((InvalidCredentialsError, PermissionError)):
            ntlm.run_cmd("hostname")
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("POST", "/wsman", body=b"")
        response = conn.getresponse()
        response.read()
        offers = response.msg.get_all("WWW-Authenticate")
        assert response.status == 401
        assert offers == ["Negotiate", "Kerberos"]
        assert srv.shells.shell_count() == 0


def test_unencrypted_kerberos_over_http_is_refused(kerberos_lab: KerberosLab, ticket: str) -> None:
    with server(kerberos_lab) as srv:
        session = kerberos_session(
            srv.url, kerberos_lab, fqdn=kerberos_lab.fqdn, encryption="never"
        )
        with pytest.raises((InvalidCredentialsError, WinRMTransportError)):
            session.run_cmd("hostname")
        assert srv.shells.shell_count() == 0


def test_a_keytab_without_the_host_spn_fails_at_start(kerberos_lab: KerberosLab) -> None:
    with pytest.raises(Exception, match=r"(?i)keytab|principal|credential|no key"):
        server(kerberos_lab, keytab=str(kerberos_lab.other_keytab)).start()


def test_wrong_password_and_unknown_principal_are_explained(kerberos_lab: KerberosLab) -> None:
    with pytest.raises(kerberos_login.KerberosLoginError, match="wrong password"):
        kerberos_login.login(kerberos_lab.principal, "not-the-password")
    with pytest.raises(kerberos_login.KerberosLoginError, match="does not know this account"):
        kerberos_login.login(f"nobody@{kerberos_lab.realm.name}", "whatever-1")


# ---- `cloudsync sim` as a rehearsal host, and a host whose clock is off -------------------


@contextlib.contextmanager
def sim_process(lab: KerberosLab, clock: str | None = None) -> Iterator[str]:
    """``cloudsync sim --fqdn --keytab --no-ntlm`` in its own process; with ``clock`` (e.g.
    ``+10m``) under libfaketime, so the host's clock differs from the KDC's and the client's."""
    argv = [
        sys.executable,
        "-m",
        "bot.cli",
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--name",
        "SYNC01",
        "--account",
        f"{ACCOUNT}:{lab.password}",
        "--fqdn",
        lab.fqdn,
        "--keytab",
        str(lab.keytab),
        "--no-ntlm",
    ]
    env = dict(os.environ)
    if clock is not None:
        # libfaketime preloaded directly (its `faketime` wrapper leaves a semaphore behind
        # when the process it runs is terminated, and refuses to start again)
        lib = next(iter(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")), None)
        if lib is None:
            if os.environ.get("CI"):
                pytest.fail("CI must run the clock-skew test: apt-get install faketime")
            pytest.skip("the clock-skew test needs libfaketime: apt-get install faketime")
        env.update(LD_PRELOAD=lib, FAKETIME=clock, FAKETIME_DONT_RESET="1")
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=ends_with_parent(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            proc.kill()
            raise AssertionError(f"cloudsync sim did not start: {line} {proc.stderr.read()}")  # type: ignore[union-attr]
        yield line.split()[2]
    finally:
        proc.terminate()
        try:  # how fast it stops under load is not what these tests are about
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_cloudsync_sim_serves_kerberos_with_ntlm_off(
    kerberos_lab: KerberosLab, ticket: str
) -> None:
    with sim_process(kerberos_lab) as url:
        result = kerberos_session(
            url, kerberos_lab, fqdn=kerberos_lab.fqdn, encryption="auto"
        ).run_cmd("hostname")
        assert result.std_out == b"SYNC01\r\n"
        ntlm = winrm.Session(url, auth=(ACCOUNT, kerberos_lab.password), transport="ntlm")
        with pytest.raises((InvalidCredentialsError, PermissionError)):
            ntlm.run_cmd("hostname")


@pytest.mark.parametrize("clock", ["+10m", "-10m"])
def test_a_host_clock_beyond_five_minutes_refuses_the_ticket(
    kerberos_lab: KerberosLab, ticket: str, clock: str
) -> None:
    with sim_process(kerberos_lab, clock=clock) as url:
        session = kerberos_session(url, kerberos_lab, fqdn=kerberos_lab.fqdn, encryption="always")
        with pytest.raises((InvalidCredentialsError, WinRMTransportError)):
            session.run_cmd("hostname")


def test_an_expired_ticket_is_refused(kerberos_lab: KerberosLab, ticket: str) -> None:
    # the realm's tickets live 10 h: a host 11 h ahead sees the ticket as expired
    with sim_process(kerberos_lab, clock="+11h") as url:
        session = kerberos_session(url, kerberos_lab, fqdn=kerberos_lab.fqdn, encryption="always")
        with pytest.raises((InvalidCredentialsError, WinRMTransportError)):
            session.run_cmd("hostname")
