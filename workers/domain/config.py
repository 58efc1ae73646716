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
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class InstallerSource:
    path: str  # UNC path or http(s) URL of AADConnectProvisioningAgentSetup.exe
    sha256: str
    signer: str = "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"
    staging_dir: str = r"C:\ProgramData\cloudsync"


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
        inst = _require(entry, "installer", where)
        iwhere = f"{where}.installer"
        sha = str(_require(inst, "sha256", iwhere)).upper()
        if len(sha) != 64 or any(c not in "0123456789ABCDEF" for c in sha):
            raise ConfigError(f"{iwhere}.sha256: must be 64 hex digits")
        installer = InstallerSource(
            path=_checked(validate_path, str(_require(inst, "path", iwhere)), f"{iwhere}.path"),
            sha256=sha,
            signer=str(inst.get("signer", InstallerSource.signer)),
            staging_dir=_checked(
                validate_path,
                str(inst.get("staging_dir", InstallerSource.staging_dir)),
                f"{iwhere}.staging_dir",
            ),
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
