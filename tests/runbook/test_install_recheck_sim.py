"""The install step verifies the staged installer again right before it starts it.

A file swapped between the stage step and the install step (another admin, a process with
write access to the staging folder) is refused with a plain sentence and a fix, and the host
never starts a process from it; a retry stages and verifies the file again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from simulator.contract import Fault
from simulator.host import MICROSOFT_CHAIN, MICROSOFT_SIGNER
from tests.runbook.conftest import SimEnv
from tests.runbook.test_runner_sim import (
    events,
    host_failure,
    install_change,
    make_runner,
    never,
    request,
    statuses,
)
from workers.domain.model import StepResult, StepStatus
from workers.runbook.progress import InMemoryProgress
from workers.runbook.steps import INSTALLER_NAME

STAGED = "C:\\ProgramData\\cloudsync\\" + INSTALLER_NAME
SWAPPED = b"MZ-an older, vulnerable AADConnectProvisioningAgentSetup.exe"


class SwapAfterStage(InMemoryProgress):
    """Rewrites the staged file on the host as soon as the stage step's result is saved."""

    def __init__(self, env: SimEnv, content: bytes, redis: Any) -> None:
        super().__init__(redis)
        self.env = env
        self.content = content
        self.swapped = False

    def save_steps(
        self,
        request_id: str,
        results: Sequence[StepResult],
        fence: int,
        guards: Sequence[tuple[str, str]] = (),
        facts: Any = None,
    ) -> None:
        super().save_steps(request_id, results, fence, guards, facts)
        staged = any(r.step_id == "stage" and r.status is StepStatus.DONE for r in results)
        if staged and not self.swapped:
            self.swapped = self.env.host("SYNC01").tamper_file(STAGED, self.content)


def installer_started(env: SimEnv) -> bool:
    lines = env.host("SYNC01").record.to_dict()["command_lines"]
    return any(INSTALLER_NAME.lower() in line.lower() for line in lines)


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed-by-microsoft"])
def test_a_file_swapped_after_the_stage_is_refused_and_never_started(
    sim_env: Callable[..., SimEnv], rclient: Any, signed: bool
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    if signed:  # another Microsoft-signed file (say, an older installer): the pin still holds
        env.host("SYNC01").signed_content[hashlib.sha256(SWAPPED).hexdigest()] = (
            MICROSOFT_SIGNER,
            "1.1.96.0",
            MICROSOFT_CHAIN,
        )
    progress = SwapAfterStage(env, SWAPPED, rclient)
    runner, _ = make_runner(env, rclient, progress=progress)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    stopped, error, hint = host_failure(out, "SYNC01")
    assert progress.swapped
    assert stopped == "install", out.to_dict()
    swapped_hash = hashlib.sha256(SWAPPED).hexdigest().upper()
    assert "the staged installer changed after the stage step verified it" in (error or "")
    assert f"its SHA-256 is now {swapped_hash}" in (error or "")
    assert "it was not run" in (error or "") and f"Remove {STAGED}" in (error or "")
    assert "swapped after it was verified" in (hint or "")
    assert not installer_started(env)
    assert events(env, "SYNC01", "installer_run") == []

    # the retry re-stages (the stage check sees the wrong bytes) and installs the approved file
    second = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert second.status == "succeeded", second.to_dict()
    got = statuses(progress, "CS-0001", "SYNC01")
    assert got["stage"] == "done" and got["install"] == "done"
    assert len(events(env, "SYNC01", "installer_run")) == 1


def test_a_file_removed_after_the_stage_is_refused(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01"}])

    class RemoveAfterStage(SwapAfterStage):
        def save_steps(self, request_id: str, results: Sequence[StepResult], *a: Any) -> None:
            InMemoryProgress.save_steps(self, request_id, results, *a)
            if any(r.step_id == "stage" and r.status is StepStatus.DONE for r in results):
                self.env.host("SYNC01").remove_file(STAGED)

    runner, _ = make_runner(env, rclient, progress=RemoveAfterStage(env, b"", rclient))
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    stopped, error, _hint = host_failure(out, "SYNC01")
    assert stopped == "install" and "is gone since the stage step verified it" in (error or "")
    assert not installer_started(env)


def test_the_untouched_file_installs(sim_env: Callable[..., SimEnv], rclient: Any) -> None:
    env = sim_env([{"name": "SYNC01"}])
    runner, progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    install = next(r for r in progress.results("CS-0001", "SYNC01") if r.step_id == "install")
    assert install.status is StepStatus.DONE
    # the re-check ran in the install step's own script, on the host, before Start-Process
    blocks = env.host("SYNC01").record.to_dict()["script_blocks"]
    script = next(b for b in blocks if "Start-Process" in b and "Get-FileHash" in b)
    assert script.index("Get-FileHash") < script.index("Start-Process")
    assert script.index("$trusted = $chain.Build(") < script.index("Start-Process")


def test_the_file_is_locked_from_the_hash_to_the_installers_exit(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """A write attempted just as Start-Process runs (after the re-check) is refused: the
    install script holds the file open with FileShare.Read; the installer runs the approved
    bytes and the lock is gone once the step ends."""
    env = sim_env([{"name": "SYNC01"}])
    env.host("SYNC01").faults.add(Fault(kind="tamper", cmdlet="Start-Process", path=STAGED))
    runner, _ = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    assert len(events(env, "SYNC01", "file_tamper_refused")) == 1
    assert events(env, "SYNC01", "file_tampered") == []
    (run,) = events(env, "SYNC01", "installer_run")
    assert run["sha256"] == env.config.tenants["contoso"].installer.sha256
    assert env.host("SYNC01").tamper_file(STAGED)  # released after the step


def test_a_root_store_change_after_the_stage_is_refused_with_its_reason(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """Same bytes, but Microsoft's root leaves the server's store between the steps: the
    install step names the chain failure, not a swapped file."""
    env = sim_env([{"name": "SYNC01"}])
    host = env.host("SYNC01")

    class DistrustAfterStage(SwapAfterStage):
        def save_steps(self, request_id: str, results: Sequence[StepResult], *a: Any) -> None:
            InMemoryProgress.save_steps(self, request_id, results, *a)
            if any(r.step_id == "stage" and r.status is StepStatus.DONE for r in results):
                host.trusted_roots.clear()

    runner, _ = make_runner(env, rclient, progress=DistrustAfterStage(env, b"", rclient))
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    stopped, error, hint = host_failure(out, "SYNC01")
    assert stopped == "install"
    assert "is the approved file but its signature no longer passes" in (error or "")
    assert "chain is not trusted on this server (UntrustedRoot:" in (error or "")
    assert "does not trust the installer's signature chain" in (hint or "")
    assert not installer_started(env)
