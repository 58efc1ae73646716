"""Strict patterns for every value that can reach PowerShell.

Validation is the first line of defence (quoting in ``workers.runbook.powershell`` is the
second): a value that does not match is refused with a message naming the problem and the form
that is accepted, before anything is stored.
"""

from __future__ import annotations

import re

from workers.domain.model import PERMISSION_TYPES, ChangeKind, ChangeSpec


class ValidationError(ValueError):
    """A value failed its pattern; the message is safe to show to the user."""


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,13}[A-Za-z0-9])?$")
FQDN_RE = re.compile(rf"^(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$")
DC_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
GMSA_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,14}\$?$")
PATH_RE = re.compile(r"^(?:[A-Za-z]:\\|\\\\[A-Za-z0-9][A-Za-z0-9.-]*\\)[A-Za-z0-9 _.$()\\-]*$")
URL_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9._~%/-]*)?$")
ADDRESS_RE = re.compile(rf"^(?:{_LABEL}(?:\.{_LABEL})*|(?:\d{{1,3}}\.){{3}}\d{{1,3}})$")
REQUEST_ID_RE = re.compile(r"^CS-\d{4,9}$")
# \\server\share\...: the server a host name or FQDN, then at least a share and a file.
SHARE_PATH_RE = re.compile(
    rf"^\\\\{_LABEL}(?:\.{_LABEL})*\\[A-Za-z0-9 _.$-]+(?:\\[A-Za-z0-9 _.$()-]+)+$"
)
# https://fqdn[:port]/path: no user info (user:password@), no query, no fragment, no spaces.
HTTPS_URL_RE = re.compile(
    rf"^https://{_LABEL}(?:\.{_LABEL})+(?::\d{{1,5}})?(?:/[A-Za-z0-9._~%/-]*)?$"
)


def _show(value: str) -> str:
    text = value if len(value) <= 40 else value[:37] + "..."
    return repr(text)


def validate_host_name(value: str) -> str:
    if not HOST_RE.match(value):
        raise ValidationError(
            f"{_show(value)} is not a valid host name: use the server's NetBIOS name "
            "(1-15 letters, digits or '-', e.g. SYNC01)"
        )
    return value.upper()


def validate_domain(value: str) -> str:
    if len(value) > 253 or not FQDN_RE.match(value):
        raise ValidationError(
            f"{_show(value)} is not a valid domain: use a fully qualified DNS name "
            "such as contoso.com (letters, digits, '-' and dots)"
        )
    return value.lower()


REALM_RE = re.compile(rf"^(?:{_LABEL}\.)*{_LABEL}$")
IP_RE = re.compile(r"^(?:\d{1,3}\.){3}\d{1,3}$|:")


def validate_realm(value: str) -> str:
    """A Kerberos realm: the AD domain's DNS name in capitals (CONTOSO.COM)."""
    if len(value) > 253 or not REALM_RE.match(value):
        raise ValidationError(
            f"{_show(value)} is not a valid Kerberos realm: use the domain's DNS name in "
            "capitals, such as CONTOSO.COM"
        )
    return value.upper()


def validate_kerberos_fqdn(value: str) -> str:
    """The server's DNS name for its SPN HTTP/<fqdn>. An IP address cannot be used: Windows
    falls back to NTLM for it (Microsoft Learn, "Authentication for remote connections")."""
    if IP_RE.search(value):
        raise ValidationError(
            f"{_show(value)} is an IP address: Kerberos needs the server's DNS name (its SPN is "
            "HTTP/<fqdn>), and with an IP address Windows falls back to NTLM; set fqdn"
        )
    if len(value) > 253 or not FQDN_RE.match(value):
        raise ValidationError(
            f"{_show(value)} is not a fully qualified DNS name (such as sync01.contoso.com)"
        )
    return value.lower()


def validate_dc(value: str) -> str:
    if len(value) > 253 or not DC_RE.match(value):
        raise ValidationError(
            f"{_show(value)} is not a valid domain controller name: use a host name or "
            "FQDN such as dc1.contoso.com"
        )
    return value.lower()


def validate_gmsa(value: str) -> str:
    if not GMSA_RE.match(value):
        raise ValidationError(
            f"{_show(value)} is not a valid gMSA name: 1-15 letters, digits, '_' or '-', "
            "optionally ending in '$' (e.g. provAgentgMSA$)"
        )
    return value if value.endswith("$") else value + "$"


# A certificate subject as Windows prints it (X500DistinguishedName): RDNs "KEY=value" joined by
# ", "; values of letters, digits, spaces and . & ( ) - only, so nothing PowerShell reads as code.
_RDN = r"[A-Za-z]{1,8}=[A-Za-z0-9][A-Za-z0-9 .&()-]{0,63}"
SUBJECT_RE = re.compile(rf"^{_RDN}(?:, {_RDN}){{0,9}}$")


def validate_subject(value: str) -> str:
    if not SUBJECT_RE.match(value):
        raise ValidationError(
            f"{_show(value)} is not an accepted certificate subject: KEY=value parts joined by "
            "', ' (letters, digits, spaces, '.', '&', '(', ')', '-'), e.g. CN=Microsoft "
            "Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"
        )
    return value


def validate_path(value: str) -> str:
    if len(value) > 260 or not (PATH_RE.match(value) or URL_RE.match(value)):
        raise ValidationError(
            f"{_show(value)} is not an accepted path: use C:\\folder\\file, "
            "\\\\server\\share\\file or an http(s) URL without quotes or spaces in the host"
        )
    return value


def validate_share_path(value: str) -> str:
    """A UNC path (or, for an installer already on the host, a local path such as C:\\x)."""
    local = value[1:3] == ":\\" and PATH_RE.match(value)
    if len(value) > 260 or not (SHARE_PATH_RE.match(value) or local):
        raise ValidationError(
            f"{_show(value)} is not an accepted share path: use \\\\server\\share\\file "
            "(letters, digits, ' ', '_', '.', '$', '-') or a path on the host (C:\\folder\\file)"
        )
    return value


def validate_url(value: str) -> str:
    """An installer download URL: HTTPS only, to a DNS name, no credentials inside.

    Plain http is refused (the installer could be swapped on the way; the SHA-256 check would
    then fail every time) and so are ``user:password@`` URLs (a secret in script text). An
    intranet URL that needs Windows authentication cannot work either: the WinRM logon has no
    credential to present (the second hop); preflight says so when the server answers 401."""
    low = value.lower()
    if low.startswith("http://"):
        raise ValidationError(
            f"{_show(value)} is plain http: the installer must be downloaded over https"
        )
    if "@" in value.split("?", 1)[0]:
        raise ValidationError(
            f"{_show(value)} carries credentials: a URL must not hold a user or password "
            "(it would be script text); use push or share staging with share_credential"
        )
    if "?" in value:
        raise ValidationError(
            f"{_show(value)} has a query: a signed link's token (?sig=..., a SAS) would sit in "
            "the script text and the step's summary; publish the file at a plain https URL, "
            "or use push or share staging"
        )
    if len(value) > 2000 or not HTTPS_URL_RE.match(value):
        raise ValidationError(
            f"{_show(value)} is not an accepted URL: use https://host.example.com/path/file.exe "
            "(letters, digits and ._~%/- in the path)"
        )
    return value


def validate_permission_type(value: str) -> str:
    for known in PERMISSION_TYPES:
        if value.lower() == known.lower():
            return known
    raise ValidationError(
        f"{_show(value)} is not a permission type: use one of {', '.join(PERMISSION_TYPES)}"
    )


def validate_request_id(value: str) -> str:
    upper = value.upper()
    if not REQUEST_ID_RE.match(upper):
        raise ValidationError(f"{_show(value)} is not a request id: ids look like CS-0001")
    return upper


def validate_address(value: str) -> str:
    if len(value) > 253 or not ADDRESS_RE.match(value):
        raise ValidationError(f"{_show(value)} is not a valid host address (DNS name or IPv4)")
    return value


STEP_RE = re.compile(r"^[a-z][a-z_]{0,31}$")


def validate_change(change: ChangeSpec, retry_from: str | None = None) -> None:
    """Every value of a stored change against the patterns the command grammar used, again:
    the worker reads it from Redis, which is not trusted to hold only what the bot wrote."""
    if not change.hosts:
        raise ValidationError("the change names no host")
    for host in change.hosts:
        validate_host_name(host)
    for domain in change.domains:
        validate_domain(domain.fqdn)
        for dc in domain.preferred_dcs:
            validate_dc(dc)
    if change.gmsa is not None:
        validate_gmsa(change.gmsa)
    for permission in change.permissions:
        if permission not in PERMISSION_TYPES:
            raise ValidationError(f"{_show(permission)} is not a permission type")
    if change.permissions_domain is not None:
        validate_domain(change.permissions_domain)
    if change.writeback not in (None, True, False):
        raise ValidationError("writeback must be true, false or unset")
    if retry_from is not None:
        step, _, fqdn = retry_from.partition(":")
        if not STEP_RE.match(step) or (fqdn and step != "domain"):
            raise ValidationError(f"{_show(retry_from)} is not a step")
        if fqdn:
            validate_domain(fqdn)
    if change.proxy_url is not None and validate_proxy_url(change.proxy_url) != change.proxy_url:
        raise ValidationError("the proxy URL is not in its stored form")
    if validate_bypass(change.proxy_bypass) != change.proxy_bypass:
        raise ValidationError("the proxy bypass list is not in its stored form")
    if change.kind is ChangeKind.PROXY_SET and change.proxy_url is None:
        raise ValidationError("proxy set names no proxy URL")


# --- the agent's outbound proxy (proxy set) ------------------------------------------------------
#
# Both values end up as attributes in the agent's .exe.config (<defaultProxy><proxy
# proxyaddress=...> and <bypasslist><add address=...>), so they are held to the standard of host
# names. The URL is http://, a DNS name or IPv4 address, a port 1-65535 and nothing else (at most
# a trailing /). https:// is refused: the agent is a .NET Framework program, and .NET Framework's
# HTTP stack cannot reach a proxy over TLS ("The ServicePointManager does not support proxies with
# the https scheme", NotSupportedException; .NET's maintainers in dotnet/corefx issues 20435 and
# 26460): such a file would be written, verified and then break every call the agent makes. The
# port is required, as the agent's documented sample gives one (the default 80 is rarely a
# proxy's). user:password@ is refused: a credential in the URL would sit
# in clear text in a file every local administrator (and every backup) can read, and on its way
# there in the Slack channel, the stored request and the script text; an authenticating proxy gets
# the agent's own identity instead (useDefaultCredentials="true", the gMSA), as Microsoft's cloud
# sync troubleshooting sample sets it. Bypass entries are host names, IPv4 addresses or *.domain;
# never regular expressions (workers.runbook.proxy writes those, and says why).


MAX_PROXY_URL = 300
MAX_PROXY_BYPASS = 20
_PROXY_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PROXY_NAME_RE = re.compile(rf"^{_PROXY_LABEL}(?:\.{_PROXY_LABEL})*$")
_PROXY_IPV4_RE = re.compile(r"^(?:0|[1-9]\d{0,2})(?:\.(?:0|[1-9]\d{0,2})){3}$")
_PROXY_URL_RE = re.compile(r"^(https?)://([a-z0-9.-]+)(?::(\d{1,5}))?/?$")
_PROXY_FORBIDDEN = re.compile(r"[\s\"'`<>\\{}|^]")


def _proxy_host_ok(host: str) -> bool:
    if _PROXY_IPV4_RE.match(host):
        return all(int(part) <= 255 for part in host.split("."))
    if re.fullmatch(r"[\d.]+", host):
        # digits and dots, but not a dotted-quad IPv4 address: 1.2.3.999, and the short or
        # integer forms (127.1, 2130706433) that URL parsers may read as some other address
        return False
    return len(host) <= 253 and _PROXY_NAME_RE.match(host) is not None


def validate_proxy_url(value: str) -> str:
    """``http://host:port``, lower-cased and without a trailing ``/`` (the form stored, shown
    on the card and written to the file)."""
    if len(value) > MAX_PROXY_URL:
        raise ValidationError(f"{_show(value)} is too long for a proxy URL")
    if _PROXY_FORBIDDEN.search(value) or not value.isascii():
        raise ValidationError(
            f"{_show(value)} holds a space, quote, backslash, angle bracket or a character "
            "outside ASCII: a proxy URL is http://host:port"
        )
    low = value.lower()
    scheme, sep, rest = low.partition("://")
    if sep and scheme == "https":
        raise ValidationError(
            f"{_show(value)} is an https:// proxy: the agent (.NET Framework) reaches its proxy "
            "only over plain http and would fail every call; give http://host:port (requests "
            "to Microsoft still use TLS through the proxy's CONNECT tunnel)"
        )
    if not sep or scheme != "http":
        raise ValidationError(
            f"{_show(value)} is not an http:// URL: give the proxy as http://proxy.contoso.com:8080"
        )
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in authority:
        raise ValidationError(
            f"{_show(value)} carries a user name or password: a proxy credential would sit in "
            "clear text in the agent's config file (and in this channel); the agent signs in "
            "to the proxy as its own account instead"
        )
    if any(ch in rest for ch in "?#"):
        raise ValidationError(f"{_show(value)} has a query or fragment: give only the host")
    if "/" in rest.rstrip("/") or rest.endswith("//"):
        raise ValidationError(f"{_show(value)} has a path: give only http://host:port")
    match = _PROXY_URL_RE.match(low)
    if match is None:
        raise ValidationError(
            f"{_show(value)} is not an accepted proxy URL: use http://host:port with a DNS "
            "name or IPv4 address"
        )
    scheme, host, port = match.groups()
    if not _proxy_host_ok(host):
        raise ValidationError(f"{_show(value)}: {_show(host)} is not a DNS name or IPv4 address")
    if port is None:
        raise ValidationError(
            f"{_show(value)} names no port: give the proxy's port, e.g. http://{host}:8080"
        )
    if not 1 <= int(port) <= 65535:
        raise ValidationError(f"{_show(value)}: the port must be 1-65535")
    return f"{scheme}://{host}:{int(port)}"


def validate_bypass_entry(value: str) -> str:
    """One bypass entry: a host name or FQDN, an IPv4 address, or ``*.domain`` (its
    subdomains), lower-cased."""
    low = value.lower()
    if low in ("<local>", "local"):  # "local": <local> after Slack's link brackets came off
        raise ValidationError(
            "local names always bypass the proxy (bypassonlocal is set): leave <local> out"
        )
    if _PROXY_FORBIDDEN.search(value) or not low or not value.isascii():
        raise ValidationError(
            f"{_show(value)} is not a bypass entry: use a host name, an IPv4 address or "
            "*.domain (no spaces, quotes or brackets)"
        )
    name = low[2:] if low.startswith("*.") else low
    if (
        "*" in name
        or not _proxy_host_ok(name)
        or (low.startswith("*.") and _PROXY_IPV4_RE.match(name))
    ):
        raise ValidationError(
            f"{_show(value)} is not a bypass entry: use a host name (sync01.contoso.com), an "
            "IPv4 address (10.0.0.5) or *.domain (*.contoso.com); regular expressions are not "
            "accepted, the bot writes them"
        )
    return low


def validate_bypass(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The entries, validated, duplicates dropped (order kept), at most ``MAX_PROXY_BYPASS``."""
    out: list[str] = []
    for value in values:
        entry = validate_bypass_entry(value)
        if entry not in out:
            out.append(entry)
    if len(out) > MAX_PROXY_BYPASS:
        raise ValidationError(f"at most {MAX_PROXY_BYPASS} bypass entries")
    return tuple(out)
