"""A real MIT KDC on loopback for the ``kerberos`` tests (see ``kdc.py``).

Where MIT Kerberos or the Python bindings are missing, the tests skip with one line saying what
to install; in CI (``CI=true``) they fail instead, so that CI can never pass them by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kerberos.kdc import INSTALL_HINT, Realm, missing

USER, PASSWORD = "svc-cloudsync", "Kerb-WinRM-7f3k!q"
FQDN = "sync01.contoso.test"
OTHER_FQDN = "sync02.contoso.test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/kerberos/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.kerberos)


@dataclass
class KerberosLab:
    realm: Realm
    keytab: Path  # HTTP/sync01.contoso.test
    other_keytab: Path  # HTTP/sync02.contoso.test
    user: str = USER
    password: str = PASSWORD
    fqdn: str = FQDN
    other_fqdn: str = OTHER_FQDN

    @property
    def principal(self) -> str:
        return f"{self.user}@{self.realm.name}"


@pytest.fixture(scope="session")
def kerberos_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KerberosLab]:
    absent = missing()
    if absent:
        message = f"{INSTALL_HINT} (missing: {', '.join(absent)})"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Kerberos tests: {message}")
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("realm")
    realm = Realm(folder).start()
    saved = {k: os.environ.get(k) for k in (*realm.env, "KRB5CCNAME")}
    os.environ.update(realm.env)
    try:
        realm.add_user(USER, PASSWORD)
        keytab = realm.add_service(f"HTTP/{FQDN}", folder / "sync01.keytab")
        other = realm.add_service(f"HTTP/{OTHER_FQDN}", folder / "sync02.keytab")
        yield KerberosLab(realm, keytab, other)
    finally:
        realm.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
