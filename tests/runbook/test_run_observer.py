"""The runner reports to the observer it is given (no wrapping or patching): every saved step,
every lost WinRM session; the worker's observer turns them into Prometheus samples. Real WinRM
against the simulator, real Redis, real prometheus_client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY

from simulator.contract import Fault
from tests.runbook.conftest import SimEnv
from tests.runbook.test_runner_sim import install_change, never, request
from workers.domain.model import StepResult
from workers.metrics import RunMetrics
from workers.runbook.locks import Locks
from workers.runbook.observer import RunObserver
from workers.runbook.progress import InMemoryProgress
from workers.runbook.runner import Runner, RunnerSettings
from workers.runbook.session import SessionLost


class Recorder:
    def __init__(self) -> None:
        self.saved: list[tuple[str, StepResult]] = []
        self.lost: list[tuple[str, BaseException]] = []

    def step_saved(self, request_id: str, result: StepResult) -> None:
        self.saved.append((request_id, result))

    def session_lost(self, host: str, error: BaseException) -> None:
        self.lost.append((host, error))


class Broken:
    def step_saved(self, request_id: str, result: StepResult) -> None:
        raise RuntimeError("observer bug")

    def session_lost(self, host: str, error: BaseException) -> None:
        raise RuntimeError("observer bug")


def _runner(env: SimEnv, client: Any, observer: RunObserver) -> tuple[Runner, InMemoryProgress]:
    progress = InMemoryProgress(client)
    settings = RunnerSettings(operation_timeout_s=1, backoff_scale=0.001, host_wait_s=5)
    runner = Runner(
        env.config,
        env.secrets,
        progress,
        Locks(client, ttl_s=5),
        settings=settings,
        redactor=env.redactor,
        observer=observer,
    )
    return runner, progress


def _drop_before_stage(env: SimEnv) -> Fault:
    # the stage step's last check of what was pushed
    fault = Fault(kind="drop", cmdlet="Get-AuthenticodeSignature", operation="Receive")
    env.host("SYNC01").faults.add(fault)
    return fault


def test_the_observer_sees_every_save_and_each_lost_session(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    fault = _drop_before_stage(env)
    recorder = Recorder()
    runner, progress = _runner(env, rclient, recorder)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    assert fault.fired == 1
    assert [(rid, r.to_dict()) for rid, r in recorder.saved] == [
        (rid, r.to_dict()) for rid, r in progress.history
    ]
    assert [(h, type(e)) for h, e in recorder.lost] == [("SYNC01", SessionLost)]


def test_run_metrics_count_steps_and_winrm_errors(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    kinds = ("login", "timeout", "connection", "protocol", "lost")

    def counts() -> tuple[float, float]:
        installs = REGISTRY.get_sample_value(
            "cloudsync_step_duration_seconds_count", {"step": "install", "status": "done"}
        )
        errors = (
            REGISTRY.get_sample_value("cloudsync_winrm_errors_total", {"kind": k}) for k in kinds
        )
        return installs or 0.0, sum(e or 0.0 for e in errors)

    before = counts()
    env = sim_env([{"name": "SYNC01"}])
    _drop_before_stage(env)
    runner, _ = _runner(env, rclient, RunMetrics())
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    assert counts() == (before[0] + 1, before[1] + 1)


def test_a_failing_observer_does_not_change_the_run(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    _drop_before_stage(env)
    runner, _ = _runner(env, rclient, Broken())
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()


def test_the_engine_wires_its_observer_and_nothing_patches_the_runner() -> None:
    import workers.metrics as metrics
    from workers.engine import Engine
    from workers.runbook.session import RunbookSession
    from workers.settings import Settings

    engine = Engine.from_env(Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0"}))
    assert isinstance(engine.runner.observer, RunMetrics)
    assert engine.runner.session_factory is RunbookSession
    assert type(engine.runner.progress).__name__ == "RedisProgress"
    assert not hasattr(metrics, "instrument")
