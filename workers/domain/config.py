"""Configuration: inventory, tenants, policy and secret references, loaded from one folder.

The folder (``CLOUDSYNC_CONFIG``, default ``config/demo``) holds ``inventory.yaml``,
``policy.yaml`` and ``secrets.yaml``. Everything is validated at start with messages that name
the file and the key, because a bot holding Domain Admin credentials must refuse to start on a
half-understood configuration: the shape of each file (keys, types, required keys) is checked
first against ``config_schema``, then the values. Secret *values* never live here: only references
(``env:NAME``, ``file:PATH``, ``vault:PATH#KEY``) that the secrets provider resolves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from workers.domain import config_schema as schema
from workers.domain.model import Cloud
from workers.domain.validation import (
    ValidationError,
    validate_address,
    validate_domain,
    validate_host_name,
    validate_kerberos_fqdn,
    validate_path,
    validate_realm,
    validate_share_path,
    validate_subject,
    validate_url,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_DIR = REPO_ROOT / "config" / "demo"
SECRET_REF_PREFIXES = ("env:", "file:", "vault:")
SECRET_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class ConfigError(ValueError):
    """The configuration is wrong; the message names the file and key and says how to fix it."""


@dataclass(frozen=True)
class HostConfig:
    """How to reach one Windows server and which tenant it belongs to."""

    name: str
    address: str
    port: int = 5985
    scheme: str = "http"
    transport: str = "ntlm"  # ntlm | kerberos | credssp (kerberos by default with a realm)
    message_encryption: str = "auto"  # auto | always (never is refused)
    cert_validation: str = "validate"  # validate | ignore (https only; ignore is flagged)
    ca_trust_path: str | None = None
    credential: str = "winrm"  # secret name of the WinRM login
    tenant: str = "default"
    tags: tuple[str, ...] = ()
    simulated: bool = False  # served by the built-in simulator (demo, rehearsal)
    sim: dict[str, Any] = field(default_factory=dict)  # simulator state for this host
    fqdn: str | None = None  # DNS name: the Kerberos SPN is HTTP/<fqdn>
    realm: str | None = None  # Kerberos realm of the tenant's domain (kerberos transport)
    installer_source: str | None = None  # overrides the tenant's installer source (push|share|url)

    @property
    def ntlm(self) -> bool:
        """NTLM sign-in, which the cloud sync prerequisites say should be off on this server."""
        return self.transport == "ntlm"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}:{self.port}/wsman"

    @property
    def insecure(self) -> bool:
        return self.scheme == "https" and self.cert_validation == "ignore"


STAGING_SOURCES = ("push", "share", "url")


@dataclass(frozen=True)
class InstallerSource:
    """Where AADConnectProvisioningAgentSetup.exe comes from and how it reaches the host.

    A WinRM logon is a network logon with no credential to pass on (the second hop), so the
    host cannot read a share as the WinRM user. ``push`` (default): the worker reads ``path``
    (a file it can see, e.g. a mounted volume) and streams it into the session over WinRM.
    ``share``: the host copies ``share_path`` after mapping the share for this session with
    ``share_credential`` (a secret name). ``url``: the host downloads ``url`` over HTTPS.
    """

    sha256: str
    source: str = "push"  # push | share | url
    path: str | None = None  # push: the installer on the worker (absolute)
    share_path: str | None = None  # share: \\server\share\...\AADConnectProvisioningAgentSetup.exe
    share_credential: str | None = None  # share: secret name of a reader of that share
    url: str | None = None  # url: https://... (no credentials in it, no Windows auth)
    signer: str = "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"
    # SHA-1 thumbprints of roots accepted beside Microsoft's pinned ones (the runbook's
    # MICROSOFT_ROOT_THUMBPRINTS) at the end of the signer's chain
    root_thumbprints: tuple[str, ...] = ()
    staging_dir: str = r"C:\ProgramData\cloudsync"


def installer_for(tenant: TenantConfig, host: HostConfig) -> InstallerSource:
    """The tenant's installer entry with the host's ``installer_source`` override applied."""
    inst = tenant.installer
    if host.installer_source and host.installer_source != inst.source:
        return replace(inst, source=host.installer_source)
    return inst


@dataclass(frozen=True)
class DomainConfig:
    fqdn: str
    admin_secret: str  # secret name of a Domain Admin of this domain


@dataclass(frozen=True)
class TenantConfig:
    name: str
    cloud: Cloud
    entra_admin_secret: str  # Hybrid Identity Administrator
    global_admin_secret: str | None  # for password writeback
    enterprise_admin_secret: str | None  # forest-wide permissions
    forest_admin_secret: str | None  # domain admin of the forest root (gMSA creation)
    domains: dict[str, DomainConfig]
    installer: InstallerSource
    kerberos_realm: str | None = None  # WinRM signs in with Kerberos in this realm by default


@dataclass(frozen=True)
class SecretRef:
    """A named credential: the user name (not secret) and where its password comes from."""

    name: str
    user: str
    password_ref: str


@dataclass(frozen=True)
class ApproverRule:
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    host_tags: tuple[str, ...] = ()  # empty = any host


@dataclass(frozen=True)
class PolicyConfig:
    requesters: tuple[str, ...]
    requester_groups: tuple[str, ...]
    approvers: tuple[ApproverRule, ...]
    approvals_needed: int = 1
    approval_expiry_s: float = 3600.0
    channels: tuple[str, ...] = ()  # empty = any channel
    group_cache_s: float = 300.0
    # who may use the read commands (check, agents, plan, status, list); None = the requesters
    # and every approver named in a rule (users and groups)
    readers: tuple[str, ...] | None = None
    reader_groups: tuple[str, ...] | None = None
    # how many hosts one request may hold once its inventory tags are expanded (tag:prod)
    max_hosts_per_request: int = 50
    # fleet watch: fewer healthy agents than this in a tenant is announced (Microsoft
    # recommends three agents per tenant; two is the least that survives one failing)
    min_healthy_agents: int = 2
    # where the fleet watch posts; None = the first of ``channels`` (none: nowhere)
    watch_channel: str | None = None


@dataclass(frozen=True)
class SlackUser:
    id: str
    name: str


@dataclass(frozen=True)
class Config:
    folder: Path
    hosts: dict[str, HostConfig]
    tenants: dict[str, TenantConfig]
    secrets: dict[str, SecretRef]
    policy: PolicyConfig
    users: dict[str, SlackUser]  # display names for the console and messages (by id)
    channels: dict[str, str]  # channel id -> name

    def host(self, name: str) -> HostConfig:
        return self.hosts[name.upper()]

    def user_id(self, name_or_id: str) -> str | None:
        for user in self.users.values():
            if name_or_id in (user.id, user.name):
                return user.id
        return None


def load_config(folder: Path | str | None = None) -> Config:
    root = Path(folder) if folder else DEFAULT_CONFIG_DIR  # Settings.config_dir
    if not root.is_dir():
        raise ConfigError(f"configuration folder {root} does not exist (CLOUDSYNC_CONFIG)")
    inventory = _read_yaml(root / "inventory.yaml", schema.INVENTORY)
    policy = _read_yaml(root / "policy.yaml", schema.POLICY_FILE)
    secrets = _read_yaml(root / "secrets.yaml", schema.SECRETS_FILE)
    secret_refs = _parse_secrets(secrets, root / "secrets.yaml", root)
    tenants = _parse_tenants(inventory, root / "inventory.yaml", secret_refs)
    hosts = _parse_hosts(inventory, root / "inventory.yaml", tenants, secret_refs)
    users, channels = _parse_directory(policy, root / "policy.yaml")
    return Config(
        folder=root,
        hosts=hosts,
        tenants=tenants,
        secrets=secret_refs,
        policy=_parse_policy(policy, root / "policy.yaml"),
        users=users,
        channels=channels,
    )


def _read_yaml(path: Path, shape: schema.Schema) -> dict[str, Any]:
    """The file's mapping, refused unless it has exactly the keys and types of ``shape``."""
    if not path.is_file():
        raise ConfigError(f"{path}: file missing")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    try:
        schema.check(data, shape, path)
    except schema.SchemaError as exc:
        raise ConfigError(str(exc)) from None
    return data


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise ConfigError(f"{where}: '{key}' is required")
    return data[key]


def _checked(check: Any, value: str, where: str) -> str:
    try:
        return str(check(value))
    except ValidationError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _parse_secrets(data: dict[str, Any], path: Path, root: Path) -> dict[str, SecretRef]:
    refs: dict[str, SecretRef] = {}
    for name, entry in (data.get("secrets") or {}).items():
        where = f"{path}: secrets.{name}"
        if not SECRET_NAME_RE.match(str(name)):
            raise ConfigError(f"{where}: secret names use letters, digits and '_' only")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a mapping with 'user' and 'password'")
        user = str(_require(entry, "user", where))
        password = str(_require(entry, "password", where))
        if not password.startswith(SECRET_REF_PREFIXES):
            raise ConfigError(
                f"{where}.password: a plaintext secret is not allowed in a YAML file; "
                "store it with the secrets provider and reference it as env:NAME, "
                "file:PATH (e.g. a Docker secret) or vault:PATH#KEY"
            )
        if password.startswith("file:") and not Path(password[5:]).is_absolute():
            password = "file:" + str((root / password[5:]).resolve())
        refs[str(name)] = SecretRef(name=str(name), user=user, password_ref=password)
    return refs


def _secret_name(value: Any, where: str, secrets: dict[str, SecretRef]) -> str:
    name = str(value)
    if name not in secrets:
        raise ConfigError(f"{where}: secret '{name}' is not defined in secrets.yaml")
    return name


def _optional_secret(
    entry: dict[str, Any], key: str, where: str, secrets: dict[str, SecretRef]
) -> str | None:
    if entry.get(key) in (None, ""):
        return None
    return _secret_name(entry[key], f"{where}.{key}", secrets)


def _parse_tenants(
    data: dict[str, Any], path: Path, secrets: dict[str, SecretRef]
) -> dict[str, TenantConfig]:
    tenants: dict[str, TenantConfig] = {}
    raw = data.get("tenants") or {}
    if not raw:
        raise ConfigError(f"{path}: at least one tenant is required under 'tenants'")
    for name, entry in raw.items():
        where = f"{path}: tenants.{name}"
        try:
            cloud = Cloud(entry.get("cloud", "public"))
        except ValueError:
            raise ConfigError(f"{where}.cloud: must be 'public' or 'usgov'") from None
        domains: dict[str, DomainConfig] = {}
        for fqdn, dentry in (entry.get("domains") or {}).items():
            dwhere = f"{where}.domains.{fqdn}"
            clean = _checked(validate_domain, str(fqdn), dwhere)
            admin = _secret_name(_require(dentry or {}, "admin", dwhere), dwhere, secrets)
            domains[clean] = DomainConfig(fqdn=clean, admin_secret=admin)
        installer = _parse_installer(
            _require(entry, "installer", where), f"{where}.installer", path.parent, secrets
        )
        tenants[str(name)] = TenantConfig(
            name=str(name),
            cloud=cloud,
            entra_admin_secret=_secret_name(
                _require(entry, "entra_admin", where), f"{where}.entra_admin", secrets
            ),
            global_admin_secret=_optional_secret(entry, "global_admin", where, secrets),
            enterprise_admin_secret=_optional_secret(entry, "enterprise_admin", where, secrets),
            forest_admin_secret=_optional_secret(entry, "forest_admin", where, secrets),
            domains=domains,
            installer=installer,
            kerberos_realm=(
                _checked(validate_realm, str(entry["kerberos_realm"]), f"{where}.kerberos_realm")
                if entry.get("kerberos_realm")
                else None
            ),
        )
    return tenants


def _parse_installer(
    inst: dict[str, Any], iwhere: str, root: Path, secrets: dict[str, SecretRef]
) -> InstallerSource:
    sha = str(_require(inst, "sha256", iwhere)).upper()
    if len(sha) != 64 or any(c not in "0123456789ABCDEF" for c in sha):
        raise ConfigError(f"{iwhere}.sha256: must be 64 hex digits")
    inst = _legacy_path(inst)
    source = str(inst.get("source", "push"))
    if source not in STAGING_SOURCES:
        raise ConfigError(f"{iwhere}.source: must be push, share or url")
    local: str | None = None
    if inst.get("path") not in (None, ""):
        raw = str(inst["path"])
        if raw.startswith("\\\\") or re.match(r"^[A-Za-z]:\\", raw) or "://" in raw:
            raise ConfigError(
                f"{iwhere}.path: is the installer's file on the worker (push staging), e.g. "
                "/data/installer/AADConnectProvisioningAgentSetup.exe; a share path goes in "
                "share_path (source: share), a download in url (source: url)"
            )
        local = str((root / raw).resolve()) if not Path(raw).is_absolute() else raw
    share = inst.get("share_path")
    url = inst.get("url")
    installer = InstallerSource(
        sha256=sha,
        source=source,
        path=local,
        share_path=_checked(validate_share_path, str(share), f"{iwhere}.share_path")
        if share not in (None, "")
        else None,
        share_credential=_optional_secret(inst, "share_credential", iwhere, secrets),
        url=_checked(validate_url, str(url), f"{iwhere}.url") if url not in (None, "") else None,
        signer=_checked(
            validate_subject, str(inst.get("signer", InstallerSource.signer)), f"{iwhere}.signer"
        ),
        root_thumbprints=_root_thumbprints(inst.get("root_thumbprints"), iwhere),
        staging_dir=_checked(
            validate_path,
            str(inst.get("staging_dir", InstallerSource.staging_dir)),
            f"{iwhere}.staging_dir",
        ),
    )
    _require_source_fields(installer, source, iwhere)
    return installer


def _root_thumbprints(raw: Any, iwhere: str) -> tuple[str, ...]:
    """``installer.root_thumbprints``: each a certificate's SHA-1 thumbprint, 40 hex digits."""
    out = []
    for value in raw or []:
        text = str(value).strip().upper()
        if not re.fullmatch(r"[0-9A-F]{40}", text):
            raise ConfigError(
                f"{iwhere}.root_thumbprints: {value!r} must be a SHA-1 thumbprint (40 hex digits)"
            )
        out.append(text)
    return tuple(out)


def _legacy_path(inst: dict[str, Any]) -> dict[str, Any]:
    """An entry without ``source`` whose ``path`` is a UNC path or a URL is read as before this
    field existed: share (resp. url) staging from it."""
    raw = str(inst.get("path") or "")
    if "source" in inst or not raw:
        return inst
    if raw.startswith("\\\\") or re.match(r"^[A-Za-z]:\\", raw):
        rest = {k: v for k, v in inst.items() if k != "path"}
        return {**rest, "source": "share", "share_path": raw}
    if "://" in raw:
        rest = {k: v for k, v in inst.items() if k != "path"}
        return {**rest, "source": "url", "url": raw}
    return inst


def _require_source_fields(inst: InstallerSource, source: str, where: str) -> None:
    """The installer entry has what ``source`` needs (the tenant's, or a host's override)."""
    needs = {"push": ("path", inst.path), "share": ("share_path", inst.share_path)}
    needs["url"] = ("url", inst.url)
    key, value = needs[source]
    if value is None:
        raise ConfigError(f"{where}.{key}: is required for source: {source}")


def _parse_hosts(
    data: dict[str, Any],
    path: Path,
    tenants: dict[str, TenantConfig],
    secrets: dict[str, SecretRef],
) -> dict[str, HostConfig]:
    hosts: dict[str, HostConfig] = {}
    for name, entry in (data.get("hosts") or {}).items():
        where = f"{path}: hosts.{name}"
        entry = entry or {}
        clean = _checked(validate_host_name, str(name), where).upper()
        tenant = str(entry.get("tenant", next(iter(tenants))))
        if tenant not in tenants:
            raise ConfigError(f"{where}.tenant: unknown tenant '{tenant}'")
        scheme = str(entry.get("scheme", "http"))
        if scheme not in ("http", "https"):
            raise ConfigError(f"{where}.scheme: must be http or https")
        realm = tenants[tenant].kerberos_realm
        transport = str(entry.get("transport", "kerberos" if realm else "ntlm"))
        if transport not in ("ntlm", "kerberos", "credssp"):
            raise ConfigError(
                f"{where}.transport: must be ntlm, kerberos or credssp "
                "(basic and plaintext are not offered)"
            )
        encryption = str(entry.get("message_encryption", "auto"))
        if encryption not in ("auto", "always"):
            raise ConfigError(f"{where}.message_encryption: must be auto or always")
        validation = str(entry.get("cert_validation", "validate"))
        if validation not in ("validate", "ignore"):
            raise ConfigError(f"{where}.cert_validation: must be validate or ignore")
        simulated = bool(entry.get("simulated", False))
        port = int(entry.get("port", 5986 if scheme == "https" else 5985))
        if not 0 < port < 65536:
            raise ConfigError(f"{where}.port: must be between 1 and 65535")
        address = _checked(
            validate_address,
            str(entry.get("address", "127.0.0.1" if simulated else clean.lower())),
            f"{where}.address",
        )
        fqdn = None
        if transport == "kerberos":
            if not realm:
                raise ConfigError(
                    f"{where}.transport: kerberos needs the tenant's kerberos_realm "
                    f"(tenants.{tenant}.kerberos_realm, e.g. CONTOSO.COM)"
                )
            named = entry.get("fqdn") or (None if simulated else address)
            if not named:
                raise ConfigError(f"{where}.fqdn: kerberos needs the server's DNS name")
            fqdn = _checked(validate_kerberos_fqdn, str(named), f"{where}.fqdn")
        override = entry.get("installer_source")
        if override is not None:
            if override not in STAGING_SOURCES:
                raise ConfigError(f"{where}.installer_source: must be push, share or url")
            _require_source_fields(
                tenants[tenant].installer, str(override), f"{path}: tenants.{tenant}.installer"
            )
        hosts[clean] = HostConfig(
            name=clean,
            address=address,
            fqdn=fqdn,
            realm=realm if transport == "kerberos" else None,
            port=port,
            scheme=scheme,
            transport=transport,
            message_encryption=encryption,
            cert_validation=validation,
            ca_trust_path=entry.get("ca_trust_path"),
            credential=_secret_name(
                entry.get("credential", "winrm"), f"{where}.credential", secrets
            ),
            tenant=tenant,
            tags=tuple(str(t) for t in entry.get("tags", ())),
            simulated=simulated,
            sim=dict(entry.get("sim") or {}),
            installer_source=str(override) if override is not None else None,
        )
    if not hosts:
        raise ConfigError(f"{path}: no hosts under 'hosts'")
    return hosts


def _parse_policy(data: dict[str, Any], path: Path) -> PolicyConfig:
    where = f"{path}: policy"
    raw = data.get("policy") or {}
    requesters = raw.get("requesters") or {}
    rules: list[ApproverRule] = []
    for i, rule in enumerate(raw.get("approvers") or []):
        if not isinstance(rule, dict):
            raise ConfigError(f"{where}.approvers[{i}]: must be a mapping (users/groups/host_tags)")
        if not rule.get("users") and not rule.get("groups"):
            raise ConfigError(
                f"{where}.approvers[{i}]: names no approver; give 'users' or 'groups'"
            )
        rules.append(
            ApproverRule(
                users=tuple(str(u) for u in rule.get("users", ())),
                groups=tuple(str(g) for g in rule.get("groups", ())),
                host_tags=tuple(str(t) for t in rule.get("host_tags", ())),
            )
        )
    if not rules:
        raise ConfigError(f"{where}.approvers: at least one approver rule is required")
    needed = int(raw.get("approvals_needed", 1))
    if needed < 1:
        raise ConfigError(f"{where}.approvals_needed: must be at least 1")
    expiry = float(raw.get("approval_expiry_minutes", 60)) * 60.0
    if expiry <= 0:
        raise ConfigError(f"{where}.approval_expiry_minutes: must be positive")
    max_hosts = int(raw.get("max_hosts_per_request", 50))
    if max_hosts < 1:
        raise ConfigError(f"{where}.max_hosts_per_request: must be at least 1")
    min_healthy = int(raw.get("min_healthy_agents", 2))
    if min_healthy < 0:
        raise ConfigError(f"{where}.min_healthy_agents: must be 0 or more")
    watch_channel = raw.get("watch_channel")
    return PolicyConfig(
        requesters=tuple(str(u) for u in requesters.get("users", ())),
        requester_groups=tuple(str(g) for g in requesters.get("groups", ())),
        approvers=tuple(rules),
        approvals_needed=needed,
        approval_expiry_s=expiry,
        channels=tuple(str(c) for c in raw.get("channels", ())),
        group_cache_s=float(raw.get("group_cache_seconds", 300)),
        readers=_optional_ids(raw, "readers", "users"),
        reader_groups=_optional_ids(raw, "readers", "groups"),
        max_hosts_per_request=max_hosts,
        min_healthy_agents=min_healthy,
        watch_channel=str(watch_channel) if watch_channel else None,
    )


def _optional_ids(raw: dict[str, Any], section: str, key: str) -> tuple[str, ...] | None:
    """``policy.<section>.<key>`` as a tuple of ids, or None when the section is absent."""
    if raw.get(section) is None:
        return None
    return tuple(str(v) for v in (raw[section] or {}).get(key, ()))


def _parse_directory(
    data: dict[str, Any], path: Path
) -> tuple[dict[str, SlackUser], dict[str, str]]:
    users = {
        str(uid): SlackUser(id=str(uid), name=str(name))
        for uid, name in (data.get("users") or {}).items()
    }
    channels = {str(cid): str(name) for cid, name in (data.get("channels") or {}).items()}
    return users, channels


def with_endpoints(config: Config, endpoints: dict[str, str]) -> Config:
    """The same configuration with simulated hosts pointed at where the simulator listens."""
    import dataclasses

    hosts = dict(config.hosts)
    for name, address in endpoints.items():
        if name in hosts:
            host, _, port = address.rpartition(":")
            hosts[name] = dataclasses.replace(hosts[name], address=host, port=int(port))
    return dataclasses.replace(config, hosts=hosts)
