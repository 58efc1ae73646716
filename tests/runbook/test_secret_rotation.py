"""A rotated secret is used from the next run on, without restarting the worker: values are
cached within one run only (``SecretsProvider.for_run``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.runbook.conftest import PASSWORDS, WINRM_USER, SimEnv
from workers.domain.config import SecretRef
from workers.domain.model import ChangeKind, ChangeSpec, DomainSpec, Request
from workers.domain.secrets import SecretsProvider
from workers.runbook.fleet import collect_preflight
from workers.runbook.locks import Locks
from workers.runbook.progress import InMemoryProgress
from workers.runbook.runner import Runner, RunnerSettings


def _winrm_from_file(env: SimEnv, path: Path) -> SecretsProvider:
    """The simulated tenant's configuration with the WinRM login read from ``file:PATH``."""
    secrets = dict(env.config.secrets)
    secrets["winrm"] = SecretRef("winrm", WINRM_USER, f"file:{path}")
    config = dataclasses.replace(env.config, secrets=secrets)
    return SecretsProvider(config, dict(PASSWORDS), redactor=env.redactor)


def test_one_provider_caches_and_for_run_reads_again(tmp_path: Path, sim_env: Any) -> None:
    env = sim_env([{"name": "SYNC01"}])
    secret = tmp_path / "winrm"
    secret.write_text("first-value-1\n", encoding="utf-8")
    provider = _winrm_from_file(env, secret)
    assert provider.get("winrm").password == "first-value-1"
    secret.write_text("second-value-2\n", encoding="utf-8")
    assert provider.get("winrm").password == "first-value-1"  # cached within one run
    fresh = provider.for_run()
    assert fresh.get("winrm").password == "second-value-2"
    assert fresh.redactor is provider.redactor and fresh.config is provider.config
    assert provider.redactor.redact("second-value-2") != "second-value-2"


def test_a_rotated_file_secret_is_used_by_the_next_run(
    tmp_path: Path, sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    secret = tmp_path / "winrm"
    secret.write_text(PASSWORDS["WINRM_PW"] + "\n", encoding="utf-8")
    provider = _winrm_from_file(env, secret)
    runner = Runner(
        provider.config,
        provider,
        InMemoryProgress(rclient),
        Locks(rclient, ttl_s=5),
        settings=RunnerSettings(operation_timeout_s=1, backoff_scale=0.001, host_wait_s=5),
        redactor=env.redactor,
    )
    change = ChangeSpec(ChangeKind.INSTALL, ("SYNC01",), domains=(DomainSpec("contoso.com"),))

    def run(rid: str) -> Any:
        req = Request(id=rid, change=change, requester="U1", channel="C1", created_at=0.0)
        return runner.run(req, should_stop=lambda: False)

    first = run("CS-0001")
    assert first.status == "succeeded", first.to_dict()

    # rotated on disk (say, by the secrets manager) but not yet on the server: the very next
    # run reads the new value, so the server refuses it; a worker caching forever would not see it
    secret.write_text("Rotated-Pass-2!y\n", encoding="utf-8")
    second = run("CS-0002")
    assert second.status == "failed"
    assert "login" in (second.hosts["SYNC01"].error or "").lower(), second.to_dict()
    assert "Rotated-Pass-2!y" not in str(second.to_dict())

    # and back: the run after that works again, still without a new runner or provider
    secret.write_text(PASSWORDS["WINRM_PW"], encoding="utf-8")
    assert run("CS-0003").status == "succeeded"


def test_a_rotated_file_secret_is_used_by_the_next_preflight(
    tmp_path: Path, sim_env: Callable[..., SimEnv]
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    secret = tmp_path / "winrm"
    secret.write_text(PASSWORDS["WINRM_PW"], encoding="utf-8")
    provider = _winrm_from_file(env, secret)
    ok = collect_preflight(provider.config, provider.for_run(), "SYNC01")
    assert ok.facts, ok
    secret.write_text("Rotated-Pass-3!z", encoding="utf-8")
    refused = collect_preflight(provider.config, provider.for_run(), "SYNC01")
    assert refused.ok is False and refused.facts is None and refused.error
    assert "Rotated-Pass-3!z" not in str(refused)
