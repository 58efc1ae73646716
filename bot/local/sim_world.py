"""A simulated world that matches the bot's configuration.

For every inventory host marked ``simulated`` the simulator serves one Windows host; its tenant
and forest accept exactly the credentials the bot's secrets provider resolves (so the demo and
rehearsals exercise real sign-ins), and each host's ``sim:`` mapping sets its state (e.g.
``tls12: disabled`` (or ``default``, ``enabled``), ``mfa_required: true``,
``installer_exit_codes: [1618, 0]``). ``kds_root_key: false`` on any host of a tenant is a
property of that tenant's forest, not of the host: the forest then has no KDS root key (the
gMSA step cannot create its account; preflight says so).
"""

from __future__ import annotations

from typing import Any

from workers.domain.config import Config, InstallerSource
from workers.domain.secrets import SecretsProvider

FOREST_KNOBS = ("kds_root_key",)  # sim: keys that describe the host's forest, not the host
ENTRA_ROLES = {
    "entra": ["Hybrid Identity Administrator"],
    "global": ["Global Administrator"],
}


def _accounts(config: Config, secrets: SecretsProvider) -> dict[str, dict[str, Any]]:
    accounts: dict[str, dict[str, Any]] = {}
    for tenant in config.tenants.values():
        for name, roles in (
            (tenant.entra_admin_secret, ENTRA_ROLES["entra"]),
            (tenant.global_admin_secret, ENTRA_ROLES["global"]),
        ):
            if not name:
                continue
            cred = secrets.get(name)
            entry = accounts.setdefault(cred.user.lower(), {"password": cred.password, "roles": []})
            entry["roles"] = sorted(set(entry["roles"]) | set(roles))
    return accounts


def _without_kds_root_key(config: Config) -> set[str]:
    """The tenants whose forest has no KDS root key: a simulated host says ``kds_root_key:
    false`` in its ``sim:`` mapping."""
    return {
        h.tenant
        for h in config.hosts.values()
        if h.simulated and h.sim.get("kds_root_key", True) is False
    }


def _domains(
    config: Config, secrets: SecretsProvider, kds_root_key: bool = True
) -> dict[str, dict[str, Any]]:
    domains: dict[str, dict[str, Any]] = {}
    for tenant in config.tenants.values():
        admin_names = [d.admin_secret for d in tenant.domains.values()]
        for extra in (tenant.enterprise_admin_secret, tenant.forest_admin_secret):
            if extra:
                admin_names.append(extra)
        for fqdn in tenant.domains:
            netbios = fqdn.split(".")[0].upper()
            admins: dict[str, dict[str, Any]] = {}
            for name in admin_names:
                cred = secrets.get(name)
                if cred.user.upper().startswith(netbios + "\\"):
                    admins[cred.user] = {"password": cred.password}
            domains[fqdn] = {
                "netbios": netbios,
                "admins": admins,
                "dcs": [f"dc01.{fqdn}", f"dc02.{fqdn}"],
                "kds_root_key": kds_root_key,
            }
    return domains


def _staging(inst: InstallerSource, secrets: SecretsProvider) -> dict[str, Any]:
    """Where the simulated host finds the installer: the share (whose ACL lets the share
    credential read it) or the download URL. A pushed installer needs nothing here."""
    spec: dict[str, Any] = {}
    if inst.share_path:
        spec["installer_path"] = inst.share_path
    if inst.share_credential:
        cred = secrets.get(inst.share_credential)
        spec["share_readers"] = {cred.user: cred.password}
    if inst.url:
        spec["installer_urls"] = [inst.url]
    return spec


def simulated_world(
    config: Config, secrets: SecretsProvider, *, startup_cost_s: float | None = None
) -> dict[str, Any]:
    """A scenario dict for ``SimCluster.from_scenario`` covering the simulated hosts."""
    hosts = []
    for host in config.hosts.values():
        if not host.simulated:
            continue
        login = secrets.get(host.credential)
        tenant = config.tenants[host.tenant]
        first_domain = next(iter(tenant.domains), "contoso.com")
        spec: dict[str, Any] = {
            "name": host.name,
            "accounts": [f"{login.user}:{login.password}"],
            "login_user": login.user.lower(),
            "domain": first_domain,
            **_staging(tenant.installer, secrets),
        }
        if host.fqdn:
            spec["fqdn"] = host.fqdn  # its SPN HTTP/<fqdn>, when sim gives it a keytab
        if startup_cost_s is not None:
            spec["startup_cost_s"] = startup_cost_s
        spec.update({k: v for k, v in host.sim.items() if k not in FOREST_KNOBS})
        if len(config.tenants) > 1:
            spec["tenant"] = host.tenant
        hosts.append(spec)
    no_kds = _without_kds_root_key(config)
    accounts = _accounts(config, secrets)

    def tenant_spec(kds_root_key: bool) -> dict[str, Any]:
        return {"accounts": accounts, "domains": _domains(config, secrets, kds_root_key)}

    if len(config.tenants) > 1:  # each configured tenant registers its agents on its own
        scenario: dict[str, Any] = {"tenant": tenant_spec(True), "hosts": hosts}
        scenario["tenants"] = {name: tenant_spec(name not in no_kds) for name in config.tenants}
        return scenario
    return {"tenant": tenant_spec(not no_kds), "hosts": hosts}
