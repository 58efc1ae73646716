"""A restart that an earlier attempt owed is never skipped on a retry (against the simulator).

The restart's idle check ("service Running") is only for runs that changed nothing; a change
made by an earlier attempt of the same request counts until a restart finished after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.contract import Fault
from tests.runbook.conftest import SimEnv
from tests.runbook.test_runner_sim import events, make_runner, never, request, statuses
from workers.domain.model import ChangeKind, ChangeSpec, DomainSpec, StepStatus

AGENT = {"agent_installed": {"domains": ["contoso.com"], "gmsa": "CONTOSO\\pGMSA_1a2b3c$"}}


def domain_add() -> ChangeSpec:
    return ChangeSpec(ChangeKind.DOMAIN_ADD, ("SYNC01",), domains=(DomainSpec("fabrikam.com"),))


def restart_fault() -> Fault:
    return Fault(kind="fail", cmdlet="Restart-Service", message="Cannot stop service")


def test_retry_after_a_failed_restart_restarts(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01", **AGENT}])
    env.host("SYNC01").faults.add(restart_fault())
    runner, progress = make_runner(env, rclient)
    first = runner.run(request(domain_add()), should_stop=never)
    assert first.hosts["SYNC01"].stopped_at == "restart", first.to_dict()
    assert len(events(env, "SYNC01", "domain_added")) == 1
    assert events(env, "SYNC01", "service_restarted") == []

    # retry: the domain is already there (skipped), but its restart is still owed
    second = runner.run(request(domain_add()), should_stop=never)
    assert second.status == "succeeded", second.to_dict()
    got = statuses(progress, "CS-0001", "SYNC01")
    assert got["domain:fabrikam.com"] == "skipped" and got["restart"] == "done"
    assert len(events(env, "SYNC01", "service_restarted")) == 1
    assert len(events(env, "SYNC01", "domain_added")) == 1

    # retry --from restart: the change is not among this run's steps and still counts, but
    # the restart above finished after it, so this run skips the restart and says why
    third = runner.run(request(domain_add(), retry_from="restart"), should_stop=never)
    assert third.status == "succeeded", third.to_dict()
    restart = next(r for r in progress.results("CS-0001", "SYNC01") if r.step_id == "restart")
    assert restart.status is StepStatus.SKIPPED
    assert restart.summary.startswith("not needed: the service was restarted after the last")
    assert len(events(env, "SYNC01", "service_restarted")) == 1


def test_retry_from_restart_after_a_failed_restart_restarts(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01", **AGENT}])
    env.host("SYNC01").faults.add(restart_fault())
    runner, progress = make_runner(env, rclient)
    runner.run(request(domain_add()), should_stop=never)
    second = runner.run(request(domain_add(), retry_from="restart"), should_stop=never)
    assert second.status == "succeeded", second.to_dict()
    assert statuses(progress, "CS-0001", "SYNC01")["restart"] == "done"
    assert len(events(env, "SYNC01", "service_restarted")) == 1


def test_owed_restart_survives_a_second_failed_retry(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """Each attempt overwrites the step's record: the skipped domain step carries the time of
    its change forward, so the third attempt still restarts."""
    env = sim_env([{"name": "SYNC01", **AGENT}])
    env.host("SYNC01").faults.add(Fault(kind="fail", cmdlet="Restart-Service", times=2))
    runner, progress = make_runner(env, rclient)
    for _ in range(2):
        out = runner.run(request(domain_add()), should_stop=never)
        assert out.hosts["SYNC01"].stopped_at == "restart", out.to_dict()
    domain = next(r for r in progress.results("CS-0001", "SYNC01") if r.step_id.startswith("dom"))
    assert domain.status is StepStatus.SKIPPED and "done_at" in domain.data
    third = runner.run(request(domain_add()), should_stop=never)
    assert third.status == "succeeded", third.to_dict()
    assert len(events(env, "SYNC01", "service_restarted")) == 1


def test_restart_done_after_the_change_is_skipped_on_retry(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """The earlier attempt restarted after its change and failed later (verify): the retry
    skips the restart, saying why."""
    env = sim_env([{"name": "SYNC01", **AGENT}])
    env.host("SYNC01").faults.add(
        Fault(kind="fail", cmdlet="Get-Item", message="Access denied", times=3)
    )
    runner, progress = make_runner(env, rclient)
    first = runner.run(request(domain_add()), should_stop=never)
    assert first.hosts["SYNC01"].stopped_at == "verify", first.to_dict()
    assert len(events(env, "SYNC01", "service_restarted")) == 1
    second = runner.run(request(domain_add()), should_stop=never)
    assert second.status == "succeeded", second.to_dict()
    restart = next(r for r in progress.results("CS-0001", "SYNC01") if r.step_id == "restart")
    assert restart.status is StepStatus.SKIPPED
    assert "restarted after the last change (in an earlier attempt)" in restart.summary
    assert len(events(env, "SYNC01", "service_restarted")) == 1
