"""Preflight resolves every secret the plan will use and checks a named gMSA, before approval:
a missing one blocks with the secret's name (never its path or value) and a fix, instead of a
run that stops at ``permissions`` with the server half-configured."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from tests.runbook.conftest import PASSWORDS, SimEnv, sim_tenant
from workers.dispatch import CeleryDispatcher
from workers.domain.model import ChangeKind, ChangeSpec, DomainSpec, HostPreflight, Request
from workers.domain.secrets import SecretsProvider
from workers.domain.service import RequestService
from workers.domain.store import RequestStore
from workers.engine import Engine, RedisProgress
from workers.runbook.locks import Locks
from workers.runbook.runner import Runner
from workers.settings import Settings


def _engine(env: SimEnv, client: redis.Redis, secrets: SecretsProvider) -> Engine:
    """A worker engine on the simulated hosts and a real Redis (no Celery worker is needed:
    preflight is called the way the preflight task calls it)."""
    port = client.connection_pool.connection_kwargs["port"]
    url = f"redis://127.0.0.1:{port}/0"
    settings = dataclasses.replace(Settings.from_env({}), redis_url=url)
    store = RequestStore(client, prefix=settings.prefix)
    locks = Locks(client, ttl_s=5, prefix=settings.prefix)
    runner = Runner(secrets.config, secrets, RedisProgress(store), locks)
    dispatcher = CeleryDispatcher(url, prefix=settings.prefix, client=client)
    service = RequestService(store, secrets.config, dispatcher)
    return Engine(
        secrets.config, settings, client, store, secrets, locks, runner, service, dispatcher
    )


def _with_secret(env: SimEnv, name: str, ref: str) -> SecretsProvider:
    secrets = dict(env.config.secrets)
    secrets[name] = dataclasses.replace(secrets[name], password_ref=ref)
    config = dataclasses.replace(env.config, secrets=secrets)
    return SecretsProvider(config, dict(PASSWORDS), redactor=env.redactor)


def _preflight(engine: Engine, change: ChangeSpec) -> HostPreflight:
    rid = engine.store.next_id()
    request = Request(id=rid, change=change, requester="U1", channel="C1", created_at=0.0)
    engine.store.create(request, actor="U1")
    engine.preflight(rid)
    stored = engine.store.get(rid)
    assert stored is not None and stored.request_hash
    return stored.preflight["SYNC01"]


def _install(**kw: Any) -> ChangeSpec:
    return ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), domains=(DomainSpec("contoso.com"),), **kw)


def test_a_missing_enterprise_admin_file_blocks_approval_by_name(
    tmp_path: Path, sim_env: Callable[..., SimEnv], rclient: redis.Redis
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    missing = tmp_path / "run" / "secrets" / "enterprise_admin_password"
    secrets = _with_secret(env, "enterprise_admin", f"file:{missing}")
    engine = _engine(env, rclient, secrets)

    entry = _preflight(engine, _install(permissions=("BasicRead",)))
    assert entry.ok is False
    blockers = [b for b in entry.blockers if "enterprise_admin" in b.what]
    assert len(blockers) == 1, entry.blockers
    assert "secret 'enterprise_admin'" in blockers[0].what
    assert "permissions" in blockers[0].what  # the step that needs it
    assert "provide the secret 'enterprise_admin'" in blockers[0].fix
    stored = str(entry.to_dict())
    assert str(missing) not in stored and "/run/secrets" not in stored
    # nothing ran on the server but the read-only preflight
    assert not [e for e in env.host("SYNC01").record.to_dict()["events"] if "install" in e["event"]]

    # the file appears (mounted after all): the next preflight is clean of it, no restart
    missing.parent.mkdir(parents=True)
    missing.write_text(PASSWORDS["DA_CONTOSO_PW"], encoding="utf-8")
    again = _preflight(engine, _install(permissions=("BasicRead",)))
    assert not [b for b in again.blockers if "enterprise_admin" in b.what]


def test_a_secret_the_plan_does_not_use_does_not_block(
    sim_env: Callable[..., SimEnv], rclient: redis.Redis
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    secrets = _with_secret(env, "enterprise_admin", "env:NOT_SET_ANYWHERE")
    entry = _preflight(_engine(env, rclient, secrets), _install())  # no permissions step
    assert not [b for b in entry.blockers if "enterprise_admin" in b.what]


def test_a_missing_winrm_secret_names_it_not_its_path(
    tmp_path: Path, sim_env: Callable[..., SimEnv], rclient: redis.Redis
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    gone = tmp_path / "nowhere" / "winrm_password"
    secrets = _with_secret(env, "winrm", f"file:{gone}")
    entry = _preflight(_engine(env, rclient, secrets), _install())
    assert entry.ok is False
    assert any("secret 'winrm'" in b.what for b in entry.blockers), entry
    assert str(gone) not in str(entry.to_dict())


def test_a_named_gmsa_must_exist(sim_env: Callable[..., SimEnv], rclient: redis.Redis) -> None:
    env = sim_env([{"name": "SYNC01"}], tenant=sim_tenant(contoso={"gmsas": ["svcSync$"]}))
    engine = _engine(env, rclient, env.secrets)

    absent = _preflight(engine, _install(gmsa="nosuch$"))
    assert absent.ok is False
    found = [b for b in absent.blockers if "gMSA nosuch$" in b.what]
    assert found and "New-ADServiceAccount" in found[0].fix, absent.blockers

    present = _preflight(engine, _install(gmsa="svcSync$"))
    assert not [b for b in present.blockers if "gMSA" in b.what], present
    assert present.ok is True, present.blockers
