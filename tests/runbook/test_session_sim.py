"""RunbookSession, fleet reads and runner guard rails against the simulator over real WinRM."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.runbook.conftest import PASSWORDS, WINRM_USER, SimEnv
from tests.runbook.test_runner_sim import install_change, make_runner, never, request, statuses
from workers.domain.secrets import Credential
from workers.runbook.fleet import collect_preflight, read_fleet
from workers.runbook.locks import Locks
from workers.runbook.session import LoginRefused, RunbookSession, SessionLost, run_readonly
from workers.runbook.steps import Step, import_step, preflight_step


def open_session(env: SimEnv, host: str = "SYNC01", **kw: Any) -> RunbookSession:
    conf = env.config.host(host)
    return RunbookSession(
        conf, env.secrets.get(conf.credential), operation_timeout_s=1, redactor=env.redactor, **kw
    )


def test_one_send_and_one_receive_per_step(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01"}])
    with open_session(env) as session:
        outcome = session.run_step(preflight_step(), {})
        assert outcome.status == "done"
        assert outcome.output["os_caption"].startswith("Microsoft Windows Server 2022")
        assert outcome.requests <= 3
        step = Step(
            "whoami",
            "t",
            "'user is ' + $Secrets['entra_admin'].UserName",
            credentials=("entra_admin",),
            kind="read",
        )
        creds = {"entra_admin": env.secrets.get("entra_admin")}
        second = session.run_step(step, creds)
        assert second.output == "user is hybrid-admin@contoso.onmicrosoft.com"
        assert second.requests <= 3
    rec = env.host("SYNC01").record.to_dict()
    assert sum(1 for c in rec["command_lines"] if "powershell" in c.lower()) == 1
    for text in rec["script_blocks"] + rec["command_lines"]:
        assert PASSWORDS["ENTRA_PW"] not in text and PASSWORDS["WINRM_PW"] not in text


def test_the_loader_is_started_with_stdin_in_pipe_mode(sim_env: Callable[..., SimEnv]) -> None:
    """The loader reads stdin as data: WINRS_CONSOLEMODE_STDIN=FALSE ("console if TRUE and pipe
    if FALSE", MS-WSMV 3.1.4.11), as Ansible sends whenever it feeds powershell's stdin."""
    env = sim_env([{"name": "SYNC01"}])
    with open_session(env) as session:
        assert session.run_step(preflight_step(), {}).status == "done"
    (command,) = env.host("SYNC01").record.to_dict()["winrs_commands"]
    assert command == {
        "executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "console_mode_stdin": False,
        "skip_cmd_shell": True,
    }


def test_sessions_change_os_environ_only_while_built_one_at_a_time(
    sim_env: Callable[..., SimEnv], monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests sets and deletes os.environ['no_proxy'] around each request of a session that
    has no_proxy (psf/requests#4997): hosts run in threads raced on it and a step failed with
    KeyError: 'no_proxy'. Only building a session may touch it, and one thread at a time."""
    import requests.utils

    from workers.runbook import session as session_module

    touched: list[bool] = []
    real = requests.utils.set_environ

    def watched(name: str, value: str | None) -> Any:
        if value is not None:
            touched.append(session_module._SESSION_BUILD.locked())
        return real(name, value)

    monkeypatch.setattr(requests.utils, "set_environ", watched)
    env = sim_env([{"name": "SYNC01"}])
    with open_session(env) as session:
        built = len(touched)
        for _ in range(3):
            assert session.run_step(Step("t", "t", "1 + 1", kind="read"), {}).status == "done"
    assert built and all(touched)
    assert len(touched) == built  # no request after the build touched the environment


def test_many_hosts_at_once_in_threads(sim_env: Callable[..., SimEnv]) -> None:
    names = [f"SYNC{i:02d}" for i in range(1, 9)]
    env = sim_env([{"name": n} for n in names])

    def preflight(name: str) -> Any:
        return collect_preflight(env.config, env.secrets, name, operation_timeout_s=1)

    with ThreadPoolExecutor(len(names)) as pool:
        for _ in range(3):
            results = list(pool.map(preflight, names))
            assert [r.error for r in results] == [None] * len(names)


def test_failed_step_reports_message_and_the_session_lives_on(
    sim_env: Callable[..., SimEnv],
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    with open_session(env) as session:
        failed = session.run_step(import_step(), {})  # agent not installed yet
        assert failed.status == "failed"
        assert "was not loaded because no valid module file was found" in (failed.error or "")
        ok = session.run_step(Step("t", "t", "1 + 1", kind="read"), {})
        assert ok.status == "done" and ok.output == 2


def test_check_true_skips_the_script(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01"}])
    with open_session(env) as session:
        step = Step("s", "t", "throw 'must not run'", check="$true")
        assert session.run_step(step, {}).status == "skipped"


def test_wrong_login_is_login_refused(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01"}])
    conf = env.config.host("SYNC01")
    with pytest.raises(LoginRefused) as err:
        RunbookSession(conf, Credential(WINRM_USER, "nope-wrong"), operation_timeout_s=1)
    assert not err.value.may_have_started
    assert "nope-wrong" not in str(err.value)


def test_dead_host_is_session_lost_before_start(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01"}])
    env.cluster.stop()
    with pytest.raises(SessionLost) as err:
        open_session(env)
    assert not err.value.may_have_started


def test_service_restart_mid_step_is_session_lost(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env([{"name": "SYNC01"}])
    with open_session(env) as session:
        env.host("SYNC01").faults.add(
            __import__("simulator.contract", fromlist=["Fault"]).Fault(
                kind="restart_service", operation="Receive"
            )
        )
        with pytest.raises(SessionLost) as err:
            session.run_step(Step("t", "t", "1", kind="read"), {})
        assert err.value.may_have_started


def test_run_readonly_and_fleet(sim_env: Callable[..., SimEnv]) -> None:
    env = sim_env(
        [
            {"name": "SYNC01"},
            {
                "name": "SYNC02",
                "agent_installed": {"domains": ["contoso.com"], "gmsa": "CONTOSO\\provAgentgMSA$"},
            },
        ]
    )
    conf = env.config.host("SYNC01")
    assert run_readonly(
        conf, env.secrets.get("winrm"), "[ordered]@{ a = 1 }", operation_timeout_s=1
    ) == {"a": 1}
    env.cluster.servers["SYNC01"].stop()
    facts = {f.host: f for f in read_fleet(env.config, env.secrets, operation_timeout_s=1)}
    assert not facts["SYNC01"].reachable and facts["SYNC01"].error
    assert facts["SYNC02"].reachable and facts["SYNC02"].installed
    assert facts["SYNC02"].service == "Running"
    assert facts["SYNC02"].logon == "CONTOSO\\provAgentgMSA$"
    assert facts["SYNC02"].domains == ["contoso.com"]
    pre = collect_preflight(env.config, env.secrets, "SYNC02", operation_timeout_s=1)
    assert pre.ok and len(pre.fingerprint) == 64 and pre.facts and pre.facts["agent_installed"]
    assert collect_preflight(env.config, env.secrets, "SYNC01", operation_timeout_s=1).ok is False


def test_busy_host_reports_the_holder(sim_env: Callable[..., SimEnv], rclient: Any) -> None:
    env = sim_env([{"name": "SYNC01"}])
    runner, _ = make_runner(env, rclient, host_wait_s=0)
    held = Locks(rclient).host_lease("SYNC01", "CS-0009")
    try:
        out = runner.run(request(install_change("SYNC01")), should_stop=never)
    finally:
        held.release()
    assert out.status == "busy" and out.hosts["SYNC01"].held_by == "CS-0009"
    assert env.host("SYNC01").record.to_dict()["command_lines"] == []


def test_changed_preflight_stops_with_changed(sim_env: Callable[..., SimEnv], rclient: Any) -> None:
    env = sim_env([{"name": "SYNC01"}])
    runner, progress = make_runner(env, rclient)
    req = request(install_change("SYNC01"), preflight={"SYNC01": {"fingerprint": "0" * 64}})
    out = runner.run(req, should_stop=never)
    assert out.status == "changed"
    assert statuses(progress, "CS-0001", "SYNC01") == {"preflight": "failed"}
    good = collect_preflight(env.config, env.secrets, "SYNC01", operation_timeout_s=1)
    ok = runner.run(
        request(install_change("SYNC01"), "CS-0002", preflight={"SYNC01": good}), should_stop=never
    )
    assert ok.status == "succeeded", ok.to_dict()


def test_lost_lease_stops_without_acting(sim_env: Callable[..., SimEnv], rclient: Any) -> None:
    env = sim_env([{"name": "SYNC01"}])
    runner, progress = make_runner(env, rclient)

    def steal() -> bool:  # another worker takes the host over once the install has started
        if "install" in statuses(progress, "CS-0001", "SYNC01"):
            rclient.set(Locks(rclient).host_key("SYNC01"), "CS-0001|999999")
        return False

    out = runner.run(request(install_change("SYNC01")), should_stop=steal)
    assert out.status == "lost", out.to_dict()
    saved = statuses(progress, "CS-0001", "SYNC01")
    assert "import" not in saved  # nothing more ran
    assert saved["install"] == "running"  # and its result was not written over the new holder's


def test_cancel_between_steps(sim_env: Callable[..., SimEnv], rclient: Any) -> None:
    env = sim_env([{"name": "SYNC01"}])
    runner, progress = make_runner(env, rclient)

    def stop() -> bool:
        return "stage" in statuses(progress, "CS-0001", "SYNC01")

    out = runner.run(request(install_change("SYNC01")), should_stop=stop)
    assert out.status == "cancelled"
    got = statuses(progress, "CS-0001", "SYNC01")
    assert out.hosts["SYNC01"].stopped_at in ("stage", "install")
    assert "install" not in got or got["install"] == "cancelled"
