"""The runner against the simulator over real WinRM (unmodified pywinrm, NTLM + encryption)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from simulator.contract import Fault
from tests.runbook.conftest import PASSWORDS, SimEnv
from workers.domain.model import (
    ChangeKind,
    ChangeSpec,
    DomainSpec,
    Request,
    StepResult,
    StepStatus,
)
from workers.runbook.locks import Locks
from workers.runbook.progress import InMemoryProgress
from workers.runbook.runner import Runner, RunnerSettings, RunOutcome

SECRET_VALUES = list(PASSWORDS.values())


def install_change(*hosts: str, **kw: Any) -> ChangeSpec:
    kw.setdefault("domains", (DomainSpec("contoso.com"),))
    return ChangeSpec(kind=ChangeKind.INSTALL, hosts=tuple(hosts), **kw)


def request(change: ChangeSpec, rid: str = "CS-0001", **kw: Any) -> Request:
    return Request(id=rid, change=change, requester="U1", channel="C1", created_at=0.0, **kw)


def make_runner(
    env: SimEnv, rclient: Any, progress: InMemoryProgress | None = None, **settings: Any
) -> tuple[Runner, InMemoryProgress]:
    progress = progress or InMemoryProgress(rclient)
    defaults: dict[str, Any] = {
        "operation_timeout_s": 1,
        "backoff_scale": 0.001,
        "host_wait_s": 5,
        "registration_wait_s": 30,
    }
    defaults.update(settings)
    runner = Runner(
        env.config,
        env.secrets,
        progress,
        Locks(rclient, ttl_s=5),
        settings=RunnerSettings(**defaults),
        redactor=env.redactor,
    )
    return runner, progress


def never() -> bool:
    return False


def statuses(progress: InMemoryProgress, rid: str, host: str) -> dict[str, str]:
    return {r.step_id: r.status.value for r in progress.results(rid, host)}


def events(env: SimEnv, host: str, name: str) -> list[dict[str, Any]]:
    return [e for e in env.host(host).record.to_dict()["events"] if e["event"] == name]


def assert_no_secret_on_host(env: SimEnv) -> None:
    for host in env.cluster.world.hosts.values():
        rec = host.record.to_dict()
        for text in rec["script_blocks"] + rec["command_lines"]:
            for secret in SECRET_VALUES:
                assert secret not in text


def test_full_install_then_second_run_changes_nothing(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    runner, progress = make_runner(env, rclient)
    change = install_change(
        "SYNC01", domains=(DomainSpec("contoso.com"), DomainSpec("fabrikam.com"))
    )
    out = runner.run(request(change), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    got = statuses(progress, "CS-0001", "SYNC01")
    assert list(got) == [
        "preflight",
        "stage",
        "install",
        "import",
        "connect",
        "gmsa",
        "domain:contoso.com",
        "domain:fabrikam.com",
        "restart",
        "verify",
    ]
    assert set(got.values()) == {"done"}
    verify = progress.results("CS-0001", "SYNC01")[-1]
    assert verify.data["status"] == "Running"
    assert verify.data["logon"].endswith("$")
    svc = env.host("SYNC01").services["aadconnectprovisioningagent"]
    assert svc.status == "Running" and svc.start_name.endswith("$")

    # A second request on the installed host: every change step is skipped, no sign-in at all.
    out2 = runner.run(request(change, "CS-0002"), should_stop=never)
    assert out2.status == "succeeded", out2.to_dict()
    got2 = statuses(progress, "CS-0002", "SYNC01")
    assert got2["connect"] == "skipped"
    for step in (
        "stage",
        "install",
        "gmsa",
        "domain:contoso.com",
        "domain:fabrikam.com",
        "restart",
    ):
        assert got2[step] == "skipped", (step, got2)
    connects = [
        c
        for c in env.host("SYNC01").record.cmdlets
        if c.name.lower() == "connect-aadcloudsyncazuread"
    ]
    assert len(connects) == 1
    assert len(events(env, "SYNC01", "installer_run")) == 1
    assert len(events(env, "SYNC01", "domain_added")) == 2
    assert_no_secret_on_host(env)
    for _rid, result in progress.history:
        for secret in SECRET_VALUES:
            assert secret not in repr(result.to_dict())


def host_failure(out: RunOutcome, host: str) -> tuple[str | None, str | None, str | None]:
    h = out.hosts[host]
    return h.stopped_at, h.error, h.hint


def test_tls12_off_fails_preflight_naming_the_keys(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "OLDTLS01", "tls12": False}])
    runner, _progress = make_runner(env, rclient)
    out = runner.run(request(install_change("OLDTLS01")), should_stop=never)
    assert out.status == "failed"
    stopped, error, hint = host_failure(out, "OLDTLS01")
    assert stopped == "preflight"
    assert "TLS 1.2" in (error or "")
    assert "SCHANNEL\\Protocols\\TLS 1.2\\Client" in (hint or "")
    assert "SchUseStrongCrypto" in (hint or "") and "reboot" in (hint or "")
    assert events(env, "OLDTLS01", "installer_run") == []


@pytest.mark.parametrize(
    ("case", "error_part", "hint_part"),
    [
        ("mfa", "AADSTS50076", "MFA"),
        ("wrong_password", "AADSTS50126", "wrong user name or password"),
        ("kds", "KDS", "KDS root key"),
        ("unreachable_dc", "could not be contacted", "domain controller could not be reached"),
        ("expired", "expired", "has expired"),
        ("missing_role", "Hybrid Identity Administrator", "lacks the role"),
    ],
)
def test_failures_surface_with_message_and_hint(
    sim_env: Callable[..., SimEnv], rclient: Any, case: str, error_part: str, hint_part: str
) -> None:
    from tests.runbook.conftest import sim_tenant

    tenant = sim_tenant()
    entra = "entra_admin"
    domains: tuple[DomainSpec, ...] = (DomainSpec("contoso.com"),)
    if case == "mfa":
        entra = "mfa_admin"
    elif case == "wrong_password":
        entra = "bad_entra"
    elif case == "missing_role":
        entra = "reader_entra"
    elif case == "kds":
        tenant = sim_tenant(contoso={"kds_root_key": False})
    elif case == "unreachable_dc":
        tenant = sim_tenant(contoso={"unreachable_dcs": ["dc09.contoso.com"]})
        domains = (DomainSpec("contoso.com", ("dc09.contoso.com",)),)
    elif case == "expired":
        tenant = sim_tenant(
            fabrikam={
                "admins": {
                    "FABRIKAM\\Administrator": {
                        "password": PASSWORDS["DA_FABRIKAM_PW"],
                        "expired": True,
                    }
                }
            }
        )
        domains = (DomainSpec("contoso.com"), DomainSpec("fabrikam.com"))
    env = sim_env([{"name": "SYNC01"}], tenant=tenant, entra_secret=entra)
    runner, progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01", domains=domains)), should_stop=never)
    assert out.status == "failed", out.to_dict()
    _stopped, error, hint = host_failure(out, "SYNC01")
    assert error_part.lower() in (error or "").lower(), error
    assert hint_part.lower() in (hint or "").lower(), hint
    if case == "wrong_password":
        assert "bad_entra" in (hint or "")
    failed = [r for r in progress.results("CS-0001", "SYNC01") if r.status is StepStatus.FAILED]
    assert len(failed) == 1 and failed[0].hint == hint
    assert_no_secret_on_host(env)


def test_installer_1618_is_retried_then_succeeds(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01", "installer_exit_codes": [1618, 0]}])
    runner, progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    assert len(events(env, "SYNC01", "installer_run")) == 2
    assert statuses(progress, "CS-0001", "SYNC01")["install"] == "done"


def test_installer_3010_reports_reboot_pending(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01", "installer_exit_codes": [3010]}])
    runner, progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    assert out.hosts["SYNC01"].reboot_pending
    install = next(r for r in progress.results("CS-0001", "SYNC01") if r.step_id == "install")
    assert "reboot" in install.summary


def test_installer_1603_fails_naming_the_log_folder(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01", "installer_exit_codes": [1603]}])
    runner, _progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    stopped, error, hint = host_failure(out, "SYNC01")
    assert stopped == "install" and "1603" in (error or "")
    assert "Trace" in (hint or "")


def test_hanging_step_times_out_and_is_stopped(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env(
        [{"name": "SYNC01", "faults": [{"kind": "hang", "cmdlet": "Add-AADCloudSyncADDomain"}]}]
    )
    runner, _progress = make_runner(env, rclient, timeouts={"domain": 1.5})
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    stopped, error, hint = host_failure(out, "SYNC01")
    assert stopped == "domain:contoso.com"
    assert "timed out after 1.5 s" in (error or "")
    assert "did not finish in time" in (hint or "")


def test_two_hosts_of_one_tenant_never_register_at_once(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    slow = [{"kind": "latency", "cmdlet": "Add-AADCloudSyncGMSA", "seconds": 0.3}]
    env = sim_env([{"name": "SYNC01", "faults": slow}, {"name": "SYNC02", "faults": slow}])
    runner, _progress = make_runner(env, rclient)
    out = runner.run(request(install_change("SYNC01", "SYNC02")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    assert not env.tenant.windows_overlapped()
    windows = env.tenant.to_dict()["windows"]
    assert {w["host"] for w in windows} == {"SYNC01", "SYNC02"}


class RecordingProgress(InMemoryProgress):
    """Keeps each save call: which results went together and which leases guarded them."""

    def __init__(self, rclient: Any) -> None:
        super().__init__(rclient)
        self.calls: list[tuple[list[tuple[str, str]], list[str]]] = []

    def save_steps(
        self,
        request_id: str,
        results: Sequence[StepResult],
        fence: int,
        guards: Sequence[tuple[str, str]] = (),
        facts: Any = None,
    ) -> None:
        batch = [(r.step_id, r.status.value) for r in results]
        self.calls.append((batch, [key for key, _ in guards]))
        super().save_steps(request_id, results, fence, guards, facts)


def test_each_step_transition_is_one_save_guarded_by_the_leases_held(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """A step's result goes with the next step's start in one call (one Redis round trip per
    step on Redis), and every call checks the host lease, plus the tenant registration lease
    while the host registers."""
    env = sim_env([{"name": "SYNC01"}])
    progress = RecordingProgress(rclient)
    runner, _ = make_runner(env, rclient, progress=progress)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    locks = Locks(rclient)
    host_key, register_key = locks.host_key("SYNC01"), locks.registration_key("contoso")
    assert all(guards[0] == host_key for _, guards in progress.calls)
    steps = [s for s, status in progress.calls[0][0] if status == "running"]
    for batch, guards in progress.calls:
        running = [step for step, status in batch if status == "running"]
        registering = running and running[0] in ("connect", "gmsa", "domain:contoso.com", "restart")
        assert (register_key in guards) == bool(registering), (batch, guards)
        assert len(batch) <= 2
        steps += running
    transitions = [batch for batch, _ in progress.calls if len(batch) == 2]
    assert [b[0][1] for b in transitions] == ["done"] * len(transitions)
    assert [b[1][1] for b in transitions] == ["running"] * len(transitions)
    # one call per step, plus the saves before waiting for the registration lease and at the end
    assert len(progress.calls) == len(set(steps)) + 2


def test_a_lost_registration_lease_stops_the_host(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    runner, progress = make_runner(env, rclient)
    key = Locks(rclient).registration_key("contoso")

    def steal() -> bool:  # the tenant's registration lease changes hands during the gMSA step
        if "gmsa" in statuses(progress, "CS-0001", "SYNC01"):
            rclient.set(key, "CS-0009:SYNC02|999999")
        return False

    out = runner.run(request(install_change("SYNC01")), should_stop=steal)
    assert out.status == "lost", out.to_dict()
    saved = statuses(progress, "CS-0001", "SYNC01")
    assert saved["gmsa"] == "running" and "domain:contoso.com" not in saved
    assert rclient.get(key) == b"CS-0009:SYNC02|999999"  # not released: it is not ours


def test_cancel_during_a_step_terminates_it(sim_env: Callable[..., SimEnv], rclient: Any) -> None:
    env = sim_env(
        [{"name": "SYNC01", "faults": [{"kind": "hang", "cmdlet": "Add-AADCloudSyncADDomain"}]}]
    )
    runner, progress = make_runner(env, rclient)
    started: dict[str, float] = {}

    def stop() -> bool:
        cmdlets = [c.name.lower() for c in env.host("SYNC01").record.cmdlets]
        if "add-aadcloudsyncaddomain" in cmdlets:
            started.setdefault("t", time.monotonic())
            return True
        return False

    out = runner.run(request(install_change("SYNC01")), should_stop=stop)
    assert out.status == "cancelled", out.to_dict()
    assert out.hosts["SYNC01"].stopped_at == "domain:contoso.com"
    assert statuses(progress, "CS-0001", "SYNC01")["domain:contoso.com"] == "cancelled"


def test_cancel_during_install_that_finished_anyway_says_so(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """The operator's case: cancel while the installer runs. An installer is not stopped
    mid-way: the run waits for it, so install is done with its real duration, the card says it
    ran to completion after the cancel and the agent is installed but not registered, not
    "install was cancelled while running" nor that it finished before the cancel."""
    env = sim_env([{"name": "SYNC01", "install_s": 1.5}])
    runner, progress = make_runner(env, rclient)

    def stop() -> bool:
        return bool(env.host("SYNC01").installer_running) or bool(
            events(env, "SYNC01", "installer_run")
        )

    out = runner.run(request(install_change("SYNC01")), should_stop=stop)
    assert out.status == "cancelled", out.to_dict()
    host = out.hosts["SYNC01"]
    got = statuses(progress, "CS-0001", "SYNC01")
    assert got["install"] == "done", got
    assert host.stopped_at == "import" and got["import"] == "cancelled"
    assert host.error is not None
    assert "install cannot be stopped mid-way" in host.error, host.error
    assert "so it ran to completion" in host.error, host.error
    assert "the agent is installed but not registered" in host.error
    assert "cancelled while running" not in host.error
    assert "before the cancel" not in host.error
    install = progress.load_steps("CS-0001", "SYNC01")["install"]
    assert install.duration_s is not None and install.duration_s >= 1.5, install
    assert "ran to completion" in (install.summary or ""), install.summary
    # the installer ran once: neither a retry nor a reconnect started it again after the cancel
    assert len(events(env, "SYNC01", "installer_run")) == 1


def test_the_cancel_time_decides_not_when_the_run_saw_the_cancel(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """The run may see the cancel late (the watch polls); the time the cancel was asked (the
    engine passes the request's) decides whether install ran on after it."""
    env = sim_env([{"name": "SYNC01", "install_s": 1.5}])
    runner, progress = make_runner(env, rclient)
    asked: dict[str, float] = {}

    def seen_late() -> bool:  # asked while install runs, seen only once the installer ended
        if statuses(progress, "CS-0001", "SYNC01").get("install") == "running":
            asked.setdefault("at", time.time())
        return bool(events(env, "SYNC01", "installer_run"))

    out = runner.run(
        request(install_change("SYNC01")),
        should_stop=seen_late,
        cancel_time=lambda: asked.get("at"),
    )
    assert out.status == "cancelled", out.to_dict()
    install = progress.load_steps("CS-0001", "SYNC01")["install"]
    assert install.status is StepStatus.DONE
    assert "so it ran to completion" in (install.summary or ""), install.summary
    assert "so it ran to completion" in (out.hosts["SYNC01"].error or "")


def test_an_installer_that_fails_after_the_cancel_is_not_retried_and_says_so(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """exit 1618 is retried, but not once the run is cancelled: the installer would start
    again after the cancel. The failure is recorded as it happened, after the cancel."""
    env = sim_env([{"name": "SYNC01", "install_s": 1.0, "installer_exit_codes": [1618, 0]}])
    runner, progress = make_runner(env, rclient)

    def stop() -> bool:
        return bool(env.host("SYNC01").installer_running) or bool(
            events(env, "SYNC01", "installer_run")
        )

    out = runner.run(request(install_change("SYNC01")), should_stop=stop)
    assert out.status == "cancelled", out.to_dict()
    host = out.hosts["SYNC01"]
    assert host.stopped_at == "install"
    install = progress.load_steps("CS-0001", "SYNC01")["install"]
    assert install.status is StepStatus.FAILED, install
    assert "so it ran to its end and failed" in (install.error or ""), install.error
    assert "exit 1618" in (install.error or "")
    assert host.error is not None
    assert "the installer is staged but the agent is not installed" in host.error, host.error
    assert len(events(env, "SYNC01", "installer_run")) == 1
    assert "import" not in statuses(progress, "CS-0001", "SYNC01")


def test_cancel_during_a_step_that_did_not_finish_says_stopped(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env(
        [{"name": "SYNC01", "faults": [{"kind": "hang", "cmdlet": "Add-AADCloudSyncADDomain"}]}]
    )
    runner, _ = make_runner(env, rclient)

    def stop() -> bool:
        cmdlets = [c.name.lower() for c in env.host("SYNC01").record.cmdlets]
        return "add-aadcloudsyncaddomain" in cmdlets

    out = runner.run(request(install_change("SYNC01")), should_stop=stop)
    error = out.hosts["SYNC01"].error or ""
    assert "cancelled while domain:contoso.com was running: stopped before it finished" in error
    assert "the agent is installed but not registered" in error, error


def test_cancel_between_steps_names_the_finished_step_and_the_host_state(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    runner, progress = make_runner(env, rclient)

    def stop() -> bool:
        return statuses(progress, "CS-0001", "SYNC01").get("install") == "done"

    out = runner.run(request(install_change("SYNC01")), should_stop=stop)
    host = out.hosts["SYNC01"]
    assert out.status == "cancelled", out.to_dict()
    assert host.error is not None
    at = host.stopped_at
    # install's result is saved with the next step's start, so the cancel lands on or in it
    assert f"cancelled before {at} started" in host.error or (
        f"cancelled while {at} was running: stopped before it finished" in host.error
    ), host.error
    assert "the agent is installed but not registered" in host.error


class WorkerCrash(BaseException):
    """Stands for the worker process dying: not an Exception, so nothing in the runner eats it."""


class CrashingProgress(InMemoryProgress):
    """Dies right after the host finished ``step`` but before its result is saved."""

    def __init__(self, step: str, rclient: Any) -> None:
        super().__init__(rclient)
        self.step = step

    def save_steps(
        self,
        request_id: str,
        results: Sequence[StepResult],
        fence: int,
        guards: Sequence[tuple[str, str]] = (),
        facts: Any = None,
    ) -> None:
        for result in results:
            if result.step_id == self.step and result.status is not StepStatus.RUNNING:
                raise WorkerCrash(result.step_id)
        super().save_steps(request_id, results, fence, guards, facts)


@pytest.mark.parametrize("crash_at", ["install", "domain:contoso.com"])
def test_crashed_run_resumes_without_repeating_changes(
    sim_env: Callable[..., SimEnv], rclient: Any, crash_at: str
) -> None:
    """The worker dies after the host did the step but before the result was saved; the
    redelivered task (a new Runner, the same progress) re-checks and never repeats it."""
    env = sim_env([{"name": "SYNC01"}])
    crashing = CrashingProgress(crash_at, rclient)
    runner, _ = make_runner(env, rclient, progress=crashing)
    change = install_change(
        "SYNC01", domains=(DomainSpec("contoso.com"), DomainSpec("fabrikam.com"))
    )
    with pytest.raises(WorkerCrash):
        runner.run(request(change), should_stop=never)
    progress = InMemoryProgress(rclient)
    for rid, result in crashing.history:
        progress.save_step(rid, result, fence=0)
    assert statuses(progress, "CS-0001", "SYNC01")[crash_at] == "running"
    runner2, _ = make_runner(env, rclient, progress=progress)
    second = runner2.run(request(change), should_stop=never)
    assert second.status == "succeeded", second.to_dict()
    assert len(events(env, "SYNC01", "installer_run")) == 1
    added = [str(e.get("domain") or e.get("fqdn")) for e in events(env, "SYNC01", "domain_added")]
    assert sorted(added) == ["contoso.com", "fabrikam.com"]
    resumed = next(r for r in progress.results("CS-0001", "SYNC01") if r.step_id == crash_at)
    assert resumed.status is StepStatus.SKIPPED and resumed.attempt == 2
    assert "earlier attempt" in resumed.summary


def test_session_killed_after_install_resumes_without_repeating_changes(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    """The WinRM service restarts (every shell and process killed) right after the installer
    ran; a second Runner resumes from the saved progress."""
    env = sim_env([{"name": "SYNC01"}])
    env.host("SYNC01").faults.add(
        Fault(kind="restart_service", cmdlet="Start-Process", operation="Send")
    )
    runner, progress = make_runner(env, rclient, max_reconnects=0)
    change = install_change(
        "SYNC01", domains=(DomainSpec("contoso.com"), DomainSpec("fabrikam.com"))
    )
    first = runner.run(request(change), should_stop=never)
    assert first.status == "failed", first.to_dict()
    assert first.hosts["SYNC01"].stopped_at == "import"
    runner2, _ = make_runner(env, rclient, progress=progress)
    second = runner2.run(request(change), should_stop=never)
    assert second.status == "succeeded", second.to_dict()
    assert len(events(env, "SYNC01", "installer_run")) == 1
    added = [str(e.get("domain") or e.get("fqdn")) for e in events(env, "SYNC01", "domain_added")]
    assert sorted(added) == ["contoso.com", "fabrikam.com"]
    got = statuses(progress, "CS-0001", "SYNC01")
    assert got["install"] == "skipped" and got["import"] == "done"


def test_retry_from_a_failed_domain_after_fixing_the_password(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    from tests.runbook.conftest import sim_tenant
    from workers.runbook.fleet import collect_preflight

    tenant = sim_tenant(
        fabrikam={
            "admins": {
                "FABRIKAM\\Administrator": {
                    "password": PASSWORDS["DA_FABRIKAM_PW"],
                    "expired": True,
                }
            }
        }
    )
    env = sim_env([{"name": "SYNC01"}], tenant=tenant)
    runner, progress = make_runner(env, rclient)
    approved = collect_preflight(env.config, env.secrets, "SYNC01", operation_timeout_s=1)
    change = install_change(
        "SYNC01", domains=(DomainSpec("contoso.com"), DomainSpec("fabrikam.com"))
    )
    first = runner.run(request(change, preflight={"SYNC01": approved}), should_stop=never)
    assert first.hosts["SYNC01"].stopped_at == "domain:fabrikam.com"
    env.tenant.domains["fabrikam.com"]["admins"]["FABRIKAM\\Administrator"]["expired"] = False
    # The agent is now installed (by us): a resumed run must not call that "changed".
    retry = request(change, preflight={"SYNC01": approved}, retry_from="domain:fabrikam.com")
    second = runner.run(retry, should_stop=never)
    assert second.status == "succeeded", second.to_dict()
    got = statuses(progress, "CS-0001", "SYNC01")
    assert got["domain:fabrikam.com"] == "done" and got["connect"] == "done"
    assert len(events(env, "SYNC01", "installer_run")) == 1
    added = [str(e.get("domain") or e.get("fqdn")) for e in events(env, "SYNC01", "domain_added")]
    assert sorted(added) == ["contoso.com", "fabrikam.com"]
    fab = next(
        r for r in progress.results("CS-0001", "SYNC01") if r.step_id.endswith("fabrikam.com")
    )
    assert fab.attempt == 2


@pytest.mark.parametrize("kind", ["drop", "http500"])
def test_transport_fault_before_a_checked_step_is_retried(
    sim_env: Callable[..., SimEnv], rclient: Any, kind: str
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    runner, progress = make_runner(env, rclient)
    # in the stage step, once the installer was pushed
    fault = Fault(kind=kind, cmdlet="Get-AuthenticodeSignature", operation="Receive", after="done")  # type: ignore[arg-type]
    env.host("SYNC01").faults.add(fault)
    out = runner.run(request(install_change("SYNC01")), should_stop=never)
    assert out.status == "succeeded", out.to_dict()
    assert fault.fired == 1
    # The step may have run (it had): its check proves it, so the retry skips it.
    assert statuses(progress, "CS-0001", "SYNC01")["stage"] == "skipped"
    assert len(events(env, "SYNC01", "installer_run")) == 1


def test_session_lost_during_an_unchecked_change_is_not_retried(
    sim_env: Callable[..., SimEnv], rclient: Any
) -> None:
    from tests.runbook.conftest import sim_tenant

    env = sim_env([{"name": "SYNC01"}], tenant=sim_tenant(contoso={"gmsas": ["svcSync$"]}))
    runner, progress = make_runner(env, rclient)
    # the cmdlet is slow, so the restart surely lands while it runs (the next Receive after the
    # held one times out), not after its result was already read
    env.host("SYNC01").faults.add(
        Fault(kind="latency", cmdlet="Set-AADCloudSyncPermissions", seconds=3.0)
    )
    env.host("SYNC01").faults.add(
        Fault(kind="restart_service", cmdlet="Set-AADCloudSyncPermissions", operation="Receive")
    )
    out = runner.run(request(install_change("SYNC01", gmsa="svcSync$")), should_stop=never)
    assert out.hosts["SYNC01"].stopped_at == "permissions", out.to_dict()
    assert "not retried" in (out.hosts["SYNC01"].error or "")
    got = statuses(progress, "CS-0001", "SYNC01")
    assert got["gmsa"] == "done" and got["permissions"] == "failed"
