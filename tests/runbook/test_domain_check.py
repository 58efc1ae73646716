"""The domain step's check and the fleet facts do not depend on one undocumented property name.

Source: Microsoft Learn, "Microsoft Entra Connect cloud sync PowerShell" / the agent's release
notes (https://learn.microsoft.com/entra/identity/hybrid/cloud-sync/reference-version-history)
mention Get-AADCloudSyncDomains but document none of its output property names.
"""

from __future__ import annotations

from typing import Any

import pytest

from simulator.pwsh.testing import run_encoded
from simulator.world import build_world
from workers.domain.config import DomainConfig, InstallerSource, TenantConfig
from workers.domain.model import Cloud, DomainSpec
from workers.runbook.fleet import facts_script
from workers.runbook.steps import AGENT_MODULE, domain_step


def _host(prop: str) -> Any:
    spec = {
        "name": "SIM01",
        "startup_cost_s": 0,
        "domain_property": prop,
        "agent_installed": {"domains": ["contoso.com"], "gmsa": "CONTOSO\\pGMSA_1a2b3c$"},
    }
    return build_world({"hosts": [spec]}).hosts["SIM01"]


def _check(fqdn: str) -> str:
    tenant = TenantConfig(
        name="contoso",
        cloud=Cloud.PUBLIC,
        entra_admin_secret="entra_admin",
        global_admin_secret=None,
        enterprise_admin_secret=None,
        forest_admin_secret=None,
        domains={fqdn.lower(): DomainConfig(fqdn=fqdn, admin_secret="da")},
        installer=InstallerSource(path="\\\\fs01\\install\\x.exe", sha256="A" * 64),
    )
    check = domain_step(tenant, DomainSpec(fqdn)).check
    assert check is not None
    return f"Import-Module -Name '{AGENT_MODULE}'\n" + check


@pytest.mark.parametrize("prop", ["DomainName", "Name", "Domain"])
def test_check_finds_the_domain_under_any_property_name(prop: str) -> None:
    host = _host(prop)
    assert run_encoded(host, _check("contoso.com")).stdout == "True\r\n"
    assert run_encoded(host, _check("CONTOSO.COM")).stdout == "True\r\n"
    assert run_encoded(host, _check("fabrikam.com")).stdout == "False\r\n"


@pytest.mark.parametrize("prop", ["DomainName", "Name"])
def test_fleet_facts_list_the_domain_under_any_property_name(prop: str) -> None:
    out = run_encoded(_host(prop), facts_script() + "\n$f['domains']").stdout
    assert out.splitlines()[-1] == "contoso.com"
