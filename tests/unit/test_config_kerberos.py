"""Kerberos in the inventory: the default where the tenant names a realm, the host's DNS name
for its SPN, and the refusals that would otherwise fail later on a real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.grammar import parse
from tests.e2e.harness import DEMO
from workers.domain.config import ConfigError, load_config
from workers.runbook.kerberos_login import explain, principal_of
from workers.runbook.plan import render_plan


def _config(tmp_path: Path, tenant: dict[str, Any], hosts: dict[str, Any]) -> Any:
    import shutil

    folder = tmp_path / "config"
    shutil.copytree(DEMO, folder)
    inventory = yaml.safe_load((folder / "inventory.yaml").read_text())
    next(iter(inventory["tenants"].values())).update(tenant)
    inventory["hosts"] = hosts
    (folder / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    return load_config(folder)


def test_a_realm_makes_kerberos_the_default(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        {"kerberos_realm": "contoso.com"},
        {
            "SYNC01": {"address": "sync01.contoso.com"},
            "SYNC02": {"address": "sync02.contoso.com", "transport": "ntlm"},
        },
    )
    host = config.hosts["SYNC01"]
    assert (host.transport, host.realm, host.fqdn) == (
        "kerberos",
        "CONTOSO.COM",
        "sync01.contoso.com",
    )
    assert config.hosts["SYNC02"].transport == "ntlm" and config.hosts["SYNC02"].ntlm


def test_without_a_realm_ntlm_stays_the_default(tmp_path: Path) -> None:
    config = _config(tmp_path, {}, {"SYNC01": {"address": "sync01.contoso.com"}})
    assert config.hosts["SYNC01"].transport == "ntlm"


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.10.20"])
def test_kerberos_refuses_an_ip_address(tmp_path: Path, address: str) -> None:
    with pytest.raises(ConfigError, match="IP address: Kerberos needs the server's DNS name"):
        _config(tmp_path, {"kerberos_realm": "CONTOSO.COM"}, {"SYNC01": {"address": address}})


def test_an_ip_address_with_an_fqdn_is_fine(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        {"kerberos_realm": "CONTOSO.COM"},
        {"SYNC01": {"address": "10.0.0.5", "fqdn": "sync01.contoso.com"}},
    )
    assert config.hosts["SYNC01"].fqdn == "sync01.contoso.com"


def test_kerberos_without_a_realm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kerberos_realm"):
        _config(
            tmp_path, {}, {"SYNC01": {"address": "sync01.contoso.com", "transport": "kerberos"}}
        )


def test_a_malformed_realm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a valid Kerberos realm"):
        _config(tmp_path, {"kerberos_realm": "CONTOSO COM"}, {"SYNC01": {}})


def test_the_plan_flags_ntlm_with_the_prerequisites_words(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        {"kerberos_realm": "CONTOSO.COM"},
        {
            "SYNC01": {"address": "sync01.contoso.com"},
            "SYNC02": {"address": "sync02.contoso.com", "transport": "ntlm"},
        },
    )
    for name, flagged in (("SYNC01", False), ("SYNC02", True)):
        command = parse(f"install {name} --domain contoso.com", config.hosts)
        change = command.change  # type: ignore[union-attr]
        plan = render_plan(change, config)
        text = " ".join(w for h in plan.hosts for w in h.warnings)
        assert ("NTLM should not be enabled on the Windows Server" in text) is flagged


def test_logins_become_principals_and_kdc_refusals_are_explained() -> None:
    assert principal_of("CONTOSO\\svc-cloudsync", "contoso.com") == "svc-cloudsync@CONTOSO.COM"
    assert principal_of("svc@contoso.com", "X") == "svc@CONTOSO.COM"
    assert "wrong password" in explain("... Preauthentication failed")
    assert "clock" in explain("Clock skew too great")
    assert explain("something new") == "the KDC refused the login"
