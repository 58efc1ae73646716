"""Fixtures: simulated hosts served over real WinRM on loopback with a matching configuration
folder (Redis: the ``rclient`` fixture of tests/conftest.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.domain.config import Config, load_config
from workers.domain.redact import Redactor
from workers.domain.secrets import SecretsProvider

# The simulated tenant's accounts; the bot side reads the same values through env: references.
PASSWORDS = {
    "WINRM_PW": "Winrm-Pass-1!x",
    "ENTRA_PW": "Hybrid-Pass-1!'q\u2019",
    "GLOBAL_PW": "Global-Pass-1!z",
    "DA_CONTOSO_PW": "Domain-Pass-1!$(whoami)",
    "DA_FABRIKAM_PW": 'Fabrikam-Pass-1!"',
    "MFA_PW": "Mfa-Pass-1!m",
    "READER_PW": "Reader-Pass-1!r",
}
WINRM_USER = "CONTOSO\\svc-runbook-tests"


def sim_tenant(**overrides: Any) -> dict[str, Any]:
    accounts = {
        "hybrid-admin@contoso.onmicrosoft.com": {
            "password": PASSWORDS["ENTRA_PW"],
            "roles": ["Hybrid Identity Administrator"],
        },
        "global-admin@contoso.onmicrosoft.com": {
            "password": PASSWORDS["GLOBAL_PW"],
            "roles": ["Global Administrator"],
        },
        "mfa-admin@contoso.onmicrosoft.com": {
            "password": PASSWORDS["MFA_PW"],
            "roles": ["Hybrid Identity Administrator"],
            "mfa_required": True,
        },
        "reader@contoso.onmicrosoft.com": {
            "password": PASSWORDS["READER_PW"],
            "roles": ["Global Reader"],
        },
    }
    contoso = {
        "netbios": "CONTOSO",
        "admins": {"CONTOSO\\Administrator": {"password": PASSWORDS["DA_CONTOSO_PW"]}},
        "dcs": ["dc01.contoso.com", "dc02.contoso.com"],
        "kds_root_key": True,
    }
    fabrikam = {
        "netbios": "FABRIKAM",
        "admins": {"FABRIKAM\\Administrator": {"password": PASSWORDS["DA_FABRIKAM_PW"]}},
        "dcs": ["dc01.fabrikam.com"],
        "kds_root_key": True,
    }
    contoso.update(overrides.pop("contoso", {}))
    fabrikam.update(overrides.pop("fabrikam", {}))
    tenant = {"accounts": accounts, "domains": {"contoso.com": contoso, "fabrikam.com": fabrikam}}
    tenant.update(overrides)
    return tenant


def write_config(
    folder: Path, ports: dict[str, int], *, entra_secret: str = "entra_admin"
) -> Config:
    hosts = {
        name: {"address": "127.0.0.1", "port": port, "tenant": "contoso", "simulated": True}
        for name, port in ports.items()
    }
    from simulator.host import INSTALLER_CONTENT

    inventory: dict[str, Any] = {
        "tenants": {
            "contoso": {
                "cloud": "public",
                "entra_admin": entra_secret,
                "global_admin": "global_admin",
                "enterprise_admin": "enterprise_admin",
                "forest_admin": "domain_admin_contoso",
                "domains": {
                    "contoso.com": {"admin": "domain_admin_contoso"},
                    "fabrikam.com": {"admin": "domain_admin_fabrikam"},
                },
                "installer": {
                    # pushed over WinRM from the worker: the simulator's fixed installer bytes
                    "source": "push",
                    "path": "AADConnectProvisioningAgentSetup.exe",
                    "sha256": hashlib.sha256(INSTALLER_CONTENT).hexdigest().upper(),
                },
            }
        },
        "hosts": hosts,
    }
    secrets = {
        "winrm": {"user": WINRM_USER, "password": "env:WINRM_PW"},
        "entra_admin": {"user": "hybrid-admin@contoso.onmicrosoft.com", "password": "env:ENTRA_PW"},
        "mfa_admin": {"user": "mfa-admin@contoso.onmicrosoft.com", "password": "env:MFA_PW"},
        "bad_entra": {"user": "hybrid-admin@contoso.onmicrosoft.com", "password": "env:BAD_PW"},
        "reader_entra": {"user": "reader@contoso.onmicrosoft.com", "password": "env:READER_PW"},
        "global_admin": {
            "user": "global-admin@contoso.onmicrosoft.com",
            "password": "env:GLOBAL_PW",
        },
        "enterprise_admin": {"user": "CONTOSO\\Administrator", "password": "env:DA_CONTOSO_PW"},
        "domain_admin_contoso": {"user": "CONTOSO\\Administrator", "password": "env:DA_CONTOSO_PW"},
        "domain_admin_fabrikam": {
            "user": "FABRIKAM\\Administrator",
            "password": "env:DA_FABRIKAM_PW",
        },
    }
    policy = {
        "policy": {"requesters": {"users": ["U1"]}, "approvers": [{"users": ["U2"]}]},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "AADConnectProvisioningAgentSetup.exe").write_bytes(INSTALLER_CONTENT)
    (folder / "inventory.yaml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    (folder / "secrets.yaml").write_text(yaml.safe_dump({"secrets": secrets}), encoding="utf-8")
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
    return load_config(folder)


@dataclass
class SimEnv:
    cluster: Any
    config: Config
    secrets: SecretsProvider
    redactor: Redactor

    def host(self, name: str) -> Any:
        return self.cluster.world.hosts[name]

    @property
    def tenant(self) -> Any:
        return self.cluster.world.tenant


@pytest.fixture
def sim_env(tmp_path: Path) -> Iterator[Callable[..., SimEnv]]:
    """Factory: sim_env([host dicts], tenant=..., entra_secret=...) -> SimEnv (started)."""
    from simulator.server import SimCluster

    clusters: list[Any] = []

    def make(
        hosts: list[dict[str, Any]],
        *,
        tenant: dict[str, Any] | None = None,
        entra_secret: str = "entra_admin",
        env_extra: dict[str, str] | None = None,
    ) -> SimEnv:
        scen_hosts = []
        for spec in hosts:
            full = {"startup_cost_s": 0, "install_s": 0, **spec}
            full["accounts"] = [f"{WINRM_USER}:{PASSWORDS['WINRM_PW']}"]
            scen_hosts.append(full)
        cluster = SimCluster.from_scenario({"tenant": tenant or sim_tenant(), "hosts": scen_hosts})
        cluster.start()
        clusters.append(cluster)
        ports = {name: srv.port for name, srv in cluster.servers.items()}
        config = write_config(tmp_path / f"config{len(clusters)}", ports, entra_secret=entra_secret)
        env = {**PASSWORDS, "BAD_PW": "Wrong-Pass-0!", **(env_extra or {})}
        redactor = Redactor()
        return SimEnv(cluster, config, SecretsProvider(config, env, redactor=redactor), redactor)

    yield make
    for cluster in clusters:
        cluster.stop()
