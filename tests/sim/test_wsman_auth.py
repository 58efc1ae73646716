"""Authentication and transport security behave like a stock Windows WinRM listener."""

from __future__ import annotations

import base64
import http.client
import os
from collections.abc import Iterator

import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError

from simulator.wsman import Account, WsmanServer
from simulator.wsman.standin import StandInHost

USER, PASSWORD = "SIMDOM\\operator", "Op-Secret-1"
OTHER, OTHER_PASSWORD = "SIMDOM\\intruder", "Other-Secret-2"


@pytest.fixture()
def server() -> Iterator[WsmanServer]:
    with WsmanServer(StandInHost(), accounts=[f"{USER}:{PASSWORD}"]) as srv:
        yield srv


def session(url: str, user: str = USER, password: str = PASSWORD, **kw: object) -> winrm.Session:
    kw.setdefault("transport", "ntlm")
    return winrm.Session(url, auth=(user, password), **kw)  # type: ignore[arg-type]


def test_wrong_password_is_rejected(server: WsmanServer) -> None:
    with pytest.raises(InvalidCredentialsError):
        session(server.url, password="not-the-password").run_cmd("hostname")


def test_valid_login_of_another_host_is_rejected(server: WsmanServer) -> None:
    with WsmanServer(StandInHost("SIM02"), accounts=[f"{OTHER}:{OTHER_PASSWORD}"]) as other:
        assert session(other.url, OTHER, OTHER_PASSWORD).run_cmd("hostname").std_out == (
            b"SIM02\r\n"
        )
        with pytest.raises(InvalidCredentialsError):
            session(server.url, OTHER, OTHER_PASSWORD).run_cmd("hostname")


def test_unencrypted_ntlm_over_http_is_refused(server: WsmanServer) -> None:
    with pytest.raises(InvalidCredentialsError):
        session(server.url, message_encryption="never").run_cmd("hostname")
    assert server.shells.shell_count() == 0


def test_basic_is_refused_and_not_offered_by_default(server: WsmanServer) -> None:
    with pytest.raises(InvalidCredentialsError):
        session(server.url, transport="basic").run_cmd("hostname")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("POST", "/wsman", body=b"")
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 401
    assert resp.headers.get_all("WWW-Authenticate") == ["Negotiate"]
    conn.close()


def test_basic_works_when_allowed() -> None:
    with WsmanServer(StandInHost(), accounts=[f"{USER}:{PASSWORD}"], allow_basic=True) as srv:
        assert session(srv.url, transport="basic").run_cmd("hostname").status_code == 0
        with pytest.raises(InvalidCredentialsError):
            session(srv.url, password="wrong", transport="basic").run_cmd("hostname")
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        resp = requests.post(srv.url, data=b"", headers={"Authorization": "Basic x"}, timeout=5)
        assert resp.status_code == 401
        assert 'Basic realm="WSMAN"' in resp.headers["WWW-Authenticate"]
        ok = requests.post(
            srv.url, data=b"", headers={"Authorization": f"Basic {token}"}, timeout=5
        )
        assert ok.status_code == 200


@pytest.fixture()
def tls_server() -> Iterator[WsmanServer]:
    with WsmanServer(StandInHost(), accounts=[f"{USER}:{PASSWORD}"], https=True) as srv:
        yield srv


def test_https_validates_with_the_ca_file(tls_server: WsmanServer) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    assert tls_server.ca_cert_path and os.path.exists(tls_server.ca_cert_path)
    for encryption in ("auto", "always"):
        s = session(
            tls_server.url,
            server_cert_validation="validate",
            ca_trust_path=tls_server.ca_cert_path,
            message_encryption=encryption,
        )
        assert s.run_cmd("hostname").std_out == b"SIM01\r\n"


def test_https_without_the_ca_file_fails_validation(tls_server: WsmanServer) -> None:
    s = session(tls_server.url, server_cert_validation="validate", ca_trust_path=None)
    with pytest.raises(requests.exceptions.SSLError):
        s.run_cmd("hostname")


def test_account_parsing_keeps_passwords_out_of_repr() -> None:
    acc = Account.parse("CONTOSO\\svc:pa:ss\\word")
    assert (acc.domain, acc.user, acc.password) == ("CONTOSO", "svc", "pa:ss\\word")
    assert "pa:ss" not in repr(acc)
    with pytest.raises(ValueError):
        Account.parse("no-domain:pw")


def test_conflicting_passwords_for_one_account_are_refused() -> None:
    WsmanServer(StandInHost(), accounts=["CONFLICT\\someone:first-password"])
    with pytest.raises(ValueError) as err:
        WsmanServer(StandInHost(), accounts=["CONFLICT\\someone:a-different-password"])
    assert "a-different-password" not in str(err.value)
