"""Kerberos tickets for the WinRM login, from its password, in memory only.

pywinrm's ``kerberos`` transport (its vendored requests-kerberos over pykerberos) takes its
credential from the default credential cache for the login's principal. The worker therefore
asks the KDC for a ticket-granting ticket with the WinRM secret's password
(``gss_acquire_cred_with_password``), stores it in a ``MEMORY:`` cache of this process
(``gss_store_cred_into``) and points ``KRB5CCNAME`` at it: no credential cache on disk, nothing
left when the process ends, and ``destroy`` empties it at the end of a run. Needs ``gssapi``
(the ``kerberos`` extra).
"""

from __future__ import annotations

import hashlib
import os
import threading

_LOCK = threading.Lock()


class KerberosLoginError(RuntimeError):
    """The KDC refused the login, in words an operator can act on."""


# MIT krb5's messages for the cases an operator meets (krb5 error table, kdc_err_*).
_REASONS = (
    ("Preauthentication failed", "the password was refused by the KDC (wrong password)"),
    ("Decrypt integrity check failed", "the password was refused by the KDC (wrong password)"),
    ("not found in Kerberos database", "the KDC does not know this account"),
    ("Clock skew too great", "this machine's clock differs from the KDC's by over 5 minutes"),
    ("Cannot contact any KDC", "no KDC answered for the realm (check krb5.conf and DNS)"),
    ("Cannot find KDC", "no KDC is configured for the realm (check krb5.conf and DNS)"),
    ("password has expired", "the account's password has expired"),
    ("revoked", "the account is disabled or locked out"),
)


def explain(message: str) -> str:
    for needle, words in _REASONS:
        if needle.lower() in message.lower():
            return words
    return "the KDC refused the login"


BACKSLASH = "\\"
_KEYTAB: list[str] = []  # the process's client keytab, when the deployment gives one


def use_keytab(path: str | None) -> None:
    """Sign in from this client keytab (CLOUDSYNC_KEYTAB) instead of the secret's password."""
    _KEYTAB[:] = [path] if path else []


def principal_of(user: str, realm: str) -> str:
    """The WinRM login as a Kerberos principal: ``DOMAIN\\user`` -> ``user@REALM``; a name
    already in ``user@REALM`` form keeps its name and has its realm upper-cased."""
    if BACKSLASH in user:
        return f"{user.split(BACKSLASH, 1)[1]}@{realm.upper()}"
    if "@" in user:
        name, _, suffix = user.rpartition("@")
        return f"{name}@{suffix.upper()}"
    return f"{user}@{realm.upper()}"


def cache_name(principal: str) -> str:
    digest = hashlib.sha256(principal.lower().encode()).hexdigest()[:16]
    return f"MEMORY:cloudsync-{digest}"


def login(principal: str, password: str) -> str:
    """Get a TGT for ``principal`` into this process's memory cache; return the cache name and
    make it the default (``KRB5CCNAME``), as pykerberos reads it."""
    try:
        import gssapi
        import gssapi.raw as gss_raw
    except ImportError:
        raise KerberosLoginError(
            "Kerberos sign-in needs the 'kerberos' extra on the worker: pip install "
            "'cloudsync-bot[kerberos]' (it builds against MIT Kerberos: Debian libkrb5-dev)"
        ) from None

    ccache = cache_name(principal)
    with _LOCK:
        name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
        try:
            if _KEYTAB:
                # the credential store acquires from the client keytab into the memory cache
                gssapi.Credentials(
                    name=name,
                    usage="initiate",
                    store={"client_keytab": _KEYTAB[0], "ccache": ccache},
                ).inquire()
            else:
                creds = gss_raw.acquire_cred_with_password(
                    name, password.encode("utf-8"), usage="initiate"
                ).creds
                gss_raw.store_cred_into(
                    {"ccache": ccache}, creds, usage="initiate", overwrite=True, set_default=True
                )
        except gssapi.exceptions.GSSError as exc:
            raise KerberosLoginError(
                f"Kerberos login of {principal} failed: {explain(str(exc))}"
            ) from None
        os.environ["KRB5CCNAME"] = ccache
    return ccache


def destroy(principal: str) -> None:
    """Destroy the memory cache of ``principal`` (end of a run): its tickets are gone."""
    import krb5  # installed with pyspnego[kerberos]

    with _LOCK:
        ctx = krb5.init_context()
        try:
            krb5.cc_destroy(ctx, krb5.cc_resolve(ctx, cache_name(principal).encode()))
        except krb5.Krb5Error:
            return
