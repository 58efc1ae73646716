"""verify reports the Agent Updater service; a stopped updater is a warning with its fix.

Source: Microsoft Learn, "Cloud sync troubleshooting"
(https://learn.microsoft.com/entra/identity/hybrid/cloud-sync/how-to-troubleshoot): the
"Microsoft Entra Connect Agent Updater" service is expected Running beside the provisioning
agent; it updates the agent automatically.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.runbook.conftest import SimEnv
from tests.runbook.test_runner_sim import install_change, make_runner, never, request
from workers.runbook.fleet import read_fleet


def _verify(env: SimEnv, rclient: Any) -> Any:
    runner, progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    return next(r for r in progress.results("CS-0001", "SYNC01") if r.step_id == "verify")


def test_running_updater_is_reported(sim_env: Callable[..., SimEnv], rclient: Any) -> None:
    env = sim_env([{"name": "SYNC01"}])
    verify = _verify(env, rclient)
    assert verify.data["updater"] == "Running"
    assert "updater Running" in verify.summary and "WARNING" not in verify.summary
    (facts,) = read_fleet(env.config, env.secrets, ["SYNC01"])
    assert facts.updater == "Running"


def test_stopped_updater_is_a_warning_with_the_fix(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01", "updater_status": "Stopped"}])
    verify = _verify(env, rclient)
    assert verify.data["updater"] == "Stopped"
    assert "WARNING: the Agent Updater service is Stopped" in verify.summary
    assert "Set-Service -StartupType Automatic" in verify.summary
    (facts,) = read_fleet(env.config, env.secrets, ["SYNC01"])
    assert facts.updater == "Stopped"


def test_agents_list_flags_a_stopped_updater() -> None:
    from bot.blocks.answers import agents_text

    base = {"reachable": True, "installed": True, "version": "1.1", "service": "Running"}
    fine = agents_text({"SYNC01": {**base, "updater": "Running"}})
    assert "✅" in fine and "updater" not in fine
    stopped = agents_text({"SYNC01": {**base, "updater": "Stopped"}})
    assert "⚠️" in stopped and "updater Stopped: start it" in stopped
