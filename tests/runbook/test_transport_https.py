"""HTTPS hosts: the certificate is validated against the inventory's CA file; without it the
session is refused (never silently insecure); `cert_validation: ignore` works but is flagged."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from tests.runbook.conftest import SimEnv
from workers.domain.model import ChangeKind, ChangeSpec, DomainSpec
from workers.runbook.plan import render_plan
from workers.runbook.session import RunbookSession, SessionLost
from workers.runbook.steps import Step


def _https(env: SimEnv, host: str, **changes: object):  # type: ignore[no-untyped-def]
    conf = env.config.host(host)
    return dataclasses.replace(conf, scheme="https", **changes)


def test_https_with_the_ca_file_validates(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01", "https": True}])
    server = env.cluster.servers["SYNC01"]
    conf = _https(env, "SYNC01", ca_trust_path=server.ca_cert_path)
    with RunbookSession(conf, env.secrets.get(conf.credential), operation_timeout_s=1) as session:
        outcome = session.run_step(Step("t", "t", "40 + 2", kind="read"), {})
    assert outcome.status == "done" and outcome.output == 42


def test_https_without_the_ca_file_is_refused(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01", "https": True}])
    conf = _https(env, "SYNC01")
    with pytest.raises(SessionLost) as info:
        RunbookSession(conf, env.secrets.get(conf.credential), operation_timeout_s=1)
    assert "certificate" in str(info.value).lower() or "ssl" in str(info.value).lower()


def test_ignoring_validation_is_flagged_in_every_plan(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01", "https": True}])
    conf = _https(env, "SYNC01", cert_validation="ignore")
    config = dataclasses.replace(env.config, hosts={**env.config.hosts, "SYNC01": conf})
    with RunbookSession(conf, env.secrets.get(conf.credential), operation_timeout_s=1) as session:
        assert session.run_step(Step("t", "t", "1", kind="read"), {}).status == "done"
    change = ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), (DomainSpec("contoso.com"),))
    plan = render_plan(change, config)
    assert any("certificate validation is OFF" in w for w in plan.hosts[0].warnings)
