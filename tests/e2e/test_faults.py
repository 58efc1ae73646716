"""Faults: a worker killed mid-step, Redis killed and restarted, WinRM connections dropped and the
WinRM service restarted, Slack unreachable. Nothing is lost and nothing runs twice."""

from __future__ import annotations

import time

from simulator.contract import Fault
from tests.e2e.harness import CHANNEL, E2EStack
from workers.domain.model import State, StepStatus


def _events(e2e: E2EStack, host: str) -> list[str]:
    return [e["event"] for e in e2e.sim_host(host).record.to_dict()["events"]]


def _approve(e2e: E2EStack, text: str) -> str:
    request = e2e.submit("alice", text)
    assert request.preflight and all(p.ok for p in request.preflight.values()), request.preflight
    assert e2e.click("bob", "approve", request.id).status_code == 200
    return request.id


def test_worker_sigkill_mid_install_resumes_exactly_once(e2e: E2EStack) -> None:
    request_id = _approve(e2e, "install SLOW01 --domain contoso.com")

    def install_running() -> bool:
        step = e2e.store.load_steps(request_id, "SLOW01").get("install")
        return step is not None and step.status is StepStatus.RUNNING

    e2e.wait_for(install_running, timeout=30, what="install step running")
    time.sleep(0.5)  # the installer is now running on the host
    e2e.kill_workers()
    assert e2e.store.get(request_id).state is State.RUNNING
    e2e.start_worker()

    done = e2e.wait_state(request_id, State.SUCCEEDED, State.FAILED, timeout=90)
    assert done.state is State.SUCCEEDED, done.reason
    events = _events(e2e, "SLOW01")
    assert events.count("installer_run") == 1, events
    assert events.count("domain_added") == 1, events
    steps = {s.step_id: s for s in e2e.store.all_steps(done)["SLOW01"]}
    assert steps["install"].status in (StepStatus.DONE, StepStatus.SKIPPED)
    assert done.attempts >= 2
    e2e.wait_quiet()


def test_winrm_connection_dropped_mid_receive_is_retried_safely(e2e: E2EStack) -> None:
    host = e2e.sim_host("TWIN01")
    # the connection drops while the gMSA is being set up, after the Entra sign-in: gmsa has a
    # read-only check, so it is safe to resume in a new session; the orphaned session (signed
    # in, mid-registration) must be ended so that it does not block the tenant's registrations
    host.faults.add(Fault(kind="drop", cmdlet="Add-AADCloudSyncGMSA", operation="Receive"))
    request_id = _approve(e2e, "install TWIN01 --domain contoso.com")
    done = e2e.wait_state(request_id, State.SUCCEEDED, State.FAILED, timeout=60)
    assert done.state is State.SUCCEEDED, done.reason
    assert _events(e2e, "TWIN01").count("installer_run") == 1
    assert _events(e2e, "TWIN01").count("domain_added") == 1
    assert not host.faults.all(), "the fault fired"
    e2e.wait_for(
        lambda: all(w.end for w in e2e.tenant.windows if w.host == "TWIN01"),
        timeout=10,
        what="no registration window left open by the lost session",
    )


def test_winrm_service_restart_during_unprovable_step_fails_clearly(e2e: E2EStack) -> None:
    host = e2e.sim_host("TWIN02")
    # permissions has no read-back check: after the shells are lost it must not be guessed at.
    # The cmdlet hangs, so the WinRM service restart surely lands while it runs (at the next
    # Receive, after the held one times out).
    host.faults.add(Fault(kind="hang", cmdlet="Set-AADCloudSyncPermissions"))
    host.faults.add(
        Fault(kind="restart_service", cmdlet="Set-AADCloudSyncPermissions", operation="Receive")
    )
    request_id = _approve(e2e, "install TWIN02 --domain contoso.com --permissions BasicRead")
    done = e2e.wait_state(request_id, State.SUCCEEDED, State.FAILED, timeout=60)
    assert done.state is State.FAILED
    assert done.stopped_at == "permissions"
    steps = {s.step_id: s for s in e2e.store.all_steps(done)["TWIN02"]}
    assert steps["permissions"].status is StepStatus.FAILED
    assert steps["permissions"].hint
    assert not host.faults.all(), "the fault fired"
    assert _events(e2e, "TWIN02").count("installer_run") == 1
    assert _events(e2e, "TWIN02").count("permissions_set") <= 1
    # the operator's way out: retry from the step, without a new approval
    assert e2e.slash("alice", f"retry {request_id} --from permissions").status_code == 200
    again = e2e.wait_state(request_id, State.SUCCEEDED, State.FAILED, timeout=60)
    assert again.state is State.SUCCEEDED, again.reason
    assert _events(e2e, "TWIN02").count("installer_run") == 1


def test_installer_busy_1618_is_retried(e2e: E2EStack) -> None:
    request_id = _approve(e2e, "install FLAKY01 --domain contoso.com")
    done = e2e.wait_state(request_id, State.SUCCEEDED, State.FAILED, timeout=60)
    assert done.state is State.SUCCEEDED, done.reason
    assert _events(e2e, "FLAKY01").count("installer_run") == 2  # 1618 then 0


def test_slack_unreachable_for_a_while_loses_nothing(e2e: E2EStack) -> None:
    e2e.wait_quiet()
    e2e.slack.unreachable(4.0)
    request_id = _approve(e2e, "install SYNC03 --domain contoso.com")
    done = e2e.wait_state(request_id, State.SUCCEEDED, State.FAILED, timeout=60)
    assert done.state is State.SUCCEEDED
    e2e.wait_quiet(timeout=60)
    card = next(m for m in e2e.slack.messages(CHANNEL) if request_id in (m.text or ""))
    replies = e2e.slack.thread(CHANNEL, card.ts)[1:]
    texts = [m.text or "" for m in replies if "SYNC03 ·" in (m.text or "")]
    steps = e2e.store.all_steps(done)["SYNC03"]
    assert len(texts) == len(steps) == len(set(texts))
    order = [s.step_id for s in steps]
    assert [next(s for s in order if f"· {s} " in t or f"· {s}" in t) for t in texts] == order
