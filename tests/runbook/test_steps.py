"""Steps per change kind, build-time errors, retry --from, and the plan an approver sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.domain.config import Config, load_config
from workers.domain.model import ChangeKind, ChangeSpec, Cloud, DomainSpec
from workers.runbook.plan import plan_hash, render_plan
from workers.runbook.steps import ORDER, StepBuildError, build_steps, registration_probe

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo"


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(DEMO)


def ids(change: ChangeSpec, config: Config, **kw: object) -> list[str]:
    host = config.host(change.hosts[0])
    return [s.id for s in build_steps(change, host, config.tenants[host.tenant], **kw)]  # type: ignore[arg-type]


def install(**kw: object) -> ChangeSpec:
    kw.setdefault("domains", (DomainSpec("contoso.com"),))
    return ChangeSpec(kind=ChangeKind.INSTALL, hosts=("SYNC01",), **kw)  # type: ignore[arg-type]


def test_install_sequence(config: Config) -> None:
    assert ids(install(), config) == [
        "preflight",
        "stage",
        "install",
        "import",
        "connect",
        "gmsa",
        "domain:contoso.com",
        "restart",
        "verify",
    ]
    custom = install(
        gmsa="svcSync$",
        writeback=True,
        domains=(DomainSpec("contoso.com"), DomainSpec("fabrikam.com", ("dc1.fabrikam.com",))),
    )
    assert ids(custom, config) == [
        "preflight",
        "stage",
        "install",
        "import",
        "connect",
        "gmsa",
        "domain:contoso.com",
        "domain:fabrikam.com",
        "permissions",
        "restart",
        "writeback",
        "verify",
    ]


def test_steps_carry_policy(config: Config) -> None:
    host = config.host("SYNC01")
    steps = {
        s.id: s for s in build_steps(install(gmsa="svcSync$"), host, config.tenants["contoso"])
    }
    assert steps["preflight"].kind == "read" and steps["verify"].kind == "read"
    assert steps["connect"].kind == "session" and steps["connect"].credentials == ("entra_admin",)
    assert "$Secrets['entra_admin']" in steps["connect"].script
    assert steps["install"].transient and steps["install"].retries > 0
    assert steps["install"].check and "Get-Process" in steps["install"].check
    assert "-ArgumentList '/quiet'" in steps["install"].script
    assert steps["gmsa"].check and "'svcSync$'" in steps["gmsa"].check
    assert "-CustomGMSAName 'svcSync$'" in steps["gmsa"].script
    assert "-EACredential $Secrets['enterprise_admin']" in steps["permissions"].script
    assert "'BasicRead'" in steps["permissions"].script
    assert "'PasswordHashSync'" in steps["permissions"].script
    assert [s for s in steps.values() if s.registration] == [
        steps[i] for i in ("connect", "gmsa", "domain:contoso.com", "permissions", "restart")
    ]
    assert steps["restart"].check_when_idle
    for step in steps.values():
        for name in step.credentials:
            assert f"$Secrets['{name}']" in step.script


def test_usgov_adds_the_environment_argument(config: Config) -> None:
    host = config.host("SYNC01")
    steps = build_steps(install(cloud=Cloud.USGOV), host, config.tenants["contoso"])
    script = next(s for s in steps if s.id == "install").script
    # /log <path> (installer log under C:\ProgramData) sits between the two since issue 12
    assert (
        "-ArgumentList '/quiet','/log','C:\\ProgramData\\cloudsync\\logs\\"
        "AADConnectProvisioningAgentSetup.log','ENVIRONMENTNAME=AzureUSGovernment'"
    ) in script


def test_preferred_dcs_are_an_array_argument(config: Config) -> None:
    host = config.host("SYNC01")
    change = install(domains=(DomainSpec("contoso.com", ("dc1.contoso.com", "dc2.contoso.com")),))
    step = next(
        s for s in build_steps(change, host, config.tenants["contoso"]) if s.id.startswith("domain")
    )
    assert "-PreferredDomainControllers 'dc1.contoso.com','dc2.contoso.com'" in step.script
    assert "$Secrets['domain_admin_contoso']" in step.script


def test_other_kinds(config: Config) -> None:
    assert ids(
        ChangeSpec(ChangeKind.DOMAIN_ADD, ("SYNC01",), domains=(DomainSpec("fabrikam.com"),)),
        config,
    ) == ["preflight", "import", "connect", "domain:fabrikam.com", "restart", "verify"]
    assert ids(ChangeSpec(ChangeKind.WRITEBACK, ("SYNC01",), writeback=True), config) == [
        "preflight",
        "import",
        "connect",
        "writeback",
        "verify",
    ]
    assert ids(
        ChangeSpec(
            ChangeKind.PERMISSIONS,
            ("SYNC01",),
            permissions=("All",),
            permissions_domain="fabrikam.com",
        ),
        config,
    ) == ["preflight", "import", "permissions", "verify"]
    assert ids(ChangeSpec(ChangeKind.RESTART, ("SYNC01",)), config) == [
        "preflight",
        "restart",
        "verify",
    ]


def test_unknown_domain_is_a_build_error(config: Config) -> None:
    with pytest.raises(StepBuildError, match=r"evil\.com is not configured.*contoso\.com"):
        ids(install(domains=(DomainSpec("evil.com"),)), config)
    with pytest.raises(StepBuildError, match="at least one domain"):
        ids(install(domains=()), config)


def test_retry_from_keeps_the_session_steps_later_steps_need(config: Config) -> None:
    change = install(domains=(DomainSpec("contoso.com"), DomainSpec("fabrikam.com")))
    assert ids(change, config, from_step="domain:fabrikam.com") == [
        "preflight",
        "import",
        "connect",
        "domain:fabrikam.com",
        "restart",
        "verify",
    ]
    assert ids(change, config, from_step="restart") == ["preflight", "restart", "verify"]
    assert ids(change, config, from_step="install")[:3] == ["preflight", "install", "import"]
    with pytest.raises(StepBuildError, match="no step 'bogus'"):
        ids(change, config, from_step="bogus")


def test_timeout_overrides_by_prefix(config: Config) -> None:
    host = config.host("SYNC01")
    steps = build_steps(
        install(), host, config.tenants["contoso"], timeouts={"domain": 7, "verify": 3}
    )
    got = {s.id: s.timeout_s for s in steps}
    assert got["domain:contoso.com"] == 7 and got["verify"] == 3


def test_registration_probe_covers_later_sign_in_steps(config: Config) -> None:
    host = config.host("SYNC01")
    steps = build_steps(install(), host, config.tenants["contoso"])
    probe = registration_probe(steps[5:])
    assert probe is not None
    script, keys = probe
    assert keys == ["gmsa", "domain:contoso.com"]
    assert "$probe['domain:contoso.com']" in script
    writeback = build_steps(install(writeback=True), host, config.tenants["contoso"])
    assert registration_probe(writeback[5:]) is None  # writeback has no check


def test_plan_shows_scripts_and_names_never_values(config: Config) -> None:
    change = install(domains=(DomainSpec("contoso.com"), DomainSpec("fabrikam.com")))
    plan = render_plan(change, config)
    assert plan.ok
    text = repr(plan.to_dict())
    values = [p.read_text().strip() for p in (DEMO / "secrets").iterdir()]
    for value in values:
        assert value not in text
    connect = next(s for s in plan.hosts[0].steps if s.id == "connect")
    assert connect.credentials == (("entra_admin", "hybrid-admin@contoso.onmicrosoft.com"),)
    assert "Connect-AADCloudSyncAzureAD -Credential $Secrets['entra_admin']" in connect.script


def test_plan_flags_insecure_hosts_and_bad_domains(config: Config) -> None:
    from dataclasses import replace

    hosts = dict(config.hosts)
    hosts["SYNC01"] = replace(hosts["SYNC01"], scheme="https", cert_validation="ignore")
    insecure = replace(config, hosts=hosts)
    plan = render_plan(install(), insecure)
    assert any("certificate validation is OFF" in w for w in plan.hosts[0].warnings)
    bad = render_plan(install(domains=(DomainSpec("nowhere.org"),)), config)
    assert not bad.ok and "nowhere.org" in (bad.hosts[0].error or "")


def test_plan_hash_binds_change_plan_and_preflight(config: Config) -> None:
    change = install()
    plan = render_plan(change, config)
    h1 = plan_hash(change, plan, {"SYNC01": "aa"})
    assert h1 == plan_hash(change, render_plan(change, config), {"sync01": "aa"})
    assert h1 != plan_hash(change, plan, {"SYNC01": "bb"})
    other = install(domains=(DomainSpec("fabrikam.com"),))
    assert h1 != plan_hash(other, render_plan(other, config), {"SYNC01": "aa"})


def test_order_is_the_order_the_fullest_change_runs_in(config: Config) -> None:
    """ORDER (what the grammar's retry --from accepts) is the runbook's own order."""
    fullest = install(
        gmsa="svcSync$",
        writeback=True,
        domains=(DomainSpec("contoso.com"), DomainSpec("fabrikam.com")),
    )
    kinds = [step.split(":")[0] for step in ids(fullest, config)]
    assert tuple(dict.fromkeys(kinds)) == ORDER
