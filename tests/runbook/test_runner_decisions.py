"""The runner's decisions, against a fake WinRM session: what it runs again on a resumed run,
when it stops, which hosts may register at once, and what it does when a connection breaks.

Only the session is fake (``FakeWinRM``: the far side of WinRM as a set of effects in place and a
journal of what was asked); the progress store and the leases are the real ones on real Redis.
Transport and script truth stay with the simulator tests (test_runner_sim.py, test_session_sim.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.runbook.conftest import PASSWORDS, write_config
from workers.domain.config import Config
from workers.domain.model import ChangeKind, ChangeSpec, DomainSpec, Request, StepStatus
from workers.domain.redact import Redactor
from workers.domain.secrets import Credential, SecretsProvider
from workers.domain.store import RequestStore
from workers.engine import RedisProgress
from workers.runbook.locks import Locks
from workers.runbook.runner import Runner, RunnerSettings, RunOutcome
from workers.runbook.session import SessionLost, StepOutcome
from workers.runbook.steps import Step

PREFIX = "rd"
GOOD_FACTS: dict[str, Any] = {
    "os_caption": "Microsoft Windows Server 2022 Datacenter",
    "installation_type": "Server",
    "dotnet_release": 533320,
    "tls12_client_enabled": 1,
    "tls12_client_disabled_by_default": 0,
    "tls12_server_enabled": 1,
    "tls12_server_disabled_by_default": 0,
    "sch_use_strong_crypto": 1,
    "execution_policy": "RemoteSigned",
    "vaultsvc_start_type": "Manual",
    "free_disk_bytes": 50 << 30,
}

Hook = Callable[["FakeSession"], object]


# --- the fake far side of WinRM -------------------------------------------------------------


class FakeHost:
    """One server as the runner's scripts would find it: the step ids whose effect is in place
    (their read-only checks answer $true), and a journal of what each session asked."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.in_place: set[str] = set()
        self.journal: list[tuple[int, str, str]] = []  # (session number, "check"/"run", step)
        self.secrets_sent: list[str] = []  # secret NAMES that reached this host
        self.before: dict[str, Hook] = {}  # one-shot: runs before a step's script starts
        self.during: dict[str, Hook] = {}  # one-shot: runs after the script had its effect
        self.fail: dict[str, str] = {}  # one-shot: the script throws this error

    def asked(self, session: int | None = None) -> list[tuple[str, str]]:
        return [(what, step) for n, what, step in self.journal if session in (None, n)]

    def ran(self, step_id: str) -> int:
        return sum(1 for _, what, step in self.journal if (what, step) == ("run", step_id))


class FakeWinRM:
    """The runner's ``session_factory``: opens a FakeSession on the named FakeHost."""

    def __init__(self, *names: str, step_s: float = 0.0) -> None:
        self.hosts = {name: FakeHost(name) for name in names}
        self.sessions: list[FakeSession] = []
        self.step_s = step_s  # how long each script "runs" (lets threads overlap if allowed)
        self.lock = threading.Lock()
        self.timeline: list[tuple[str, str, Step]] = []  # ("start"/"end", host, step), all hosts

    def __call__(
        self, host: Any, login: Credential, *, operation_timeout_s: int, redactor: Redactor
    ) -> FakeSession:
        with self.lock:
            session = FakeSession(self, self.hosts[host.name], len(self.sessions) + 1)
            self.sessions.append(session)
        return session

    def mark(self, event: str, host: FakeHost, step: Step) -> None:
        with self.lock:
            self.timeline.append((event, host.name, step))


class FakeSession:
    """The RunbookSession interface the runner uses: run_step (check first, like the loader),
    alive, shell_id, discard_shell, close. One powershell.exe: the module import and the Entra
    sign-in live in it and are gone with it."""

    def __init__(self, world: FakeWinRM, host: FakeHost, number: int) -> None:
        self.world = world
        self.host = host
        self.number = number
        self.alive = True
        self.shell_id = f"shell-{number}"
        self.discarded: list[str] = []
        self.imported = False
        self.signed_in = False
        self._sent: set[str] = set()

    def drop(self, *, may_have_started: bool = True) -> None:
        """The connection breaks (for a hook to call)."""
        self.alive = False
        raise SessionLost(f"{self.host.name}: connection reset", may_have_started=may_have_started)

    def discard_shell(self, shell_id: str) -> None:
        self.discarded.append(shell_id)

    def close(self) -> None:
        self.alive = False

    def run_step(
        self,
        step: Step,
        secrets: dict[str, Credential],
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> StepOutcome:
        if not self.alive:
            raise SessionLost(f"{self.host.name}: the session is closed", may_have_started=False)
        host = self.host
        for name in step.credentials:
            if name not in self._sent:
                assert name in secrets, f"{step.id} needs {name}"
                self._sent.add(name)
                host.secrets_sent.append(name)
        if step.check is not None:
            host.journal.append((self.number, "check", step.id))
            if step.id in host.in_place:
                return StepOutcome(step.id, "skipped")
        if hook := host.before.pop(step.id, None):
            hook(self)
        host.journal.append((self.number, "run", step.id))
        if error := host.fail.pop(step.id, None):
            return StepOutcome(step.id, "failed", error=error)
        self.world.mark("start", host, step)
        time.sleep(self.world.step_s)
        outcome = self._effect(step)
        self.world.mark("end", host, step)
        if hook := host.during.pop(step.id, None):
            hook(self)
        return outcome

    def _effect(self, step: Step) -> StepOutcome:
        host = self.host
        if step.id == "preflight":
            facts = {**GOOD_FACTS, "agent_installed": "install" in host.in_place}
            return StepOutcome(step.id, "done", output=facts)
        if step.id == "probe:connect":  # each later sign-in step: is its effect in place?
            return StepOutcome(step.id, "done", output=dict.fromkeys(host.in_place, True))
        if step.id == "import":
            self.imported = True
        elif step.id == "connect":
            if not self.imported:
                return StepOutcome(step.id, "failed", error="the module is not loaded")
            self.signed_in = True
        elif (step.needs_connect and not self.signed_in) or (
            step.needs_import and not self.imported
        ):
            return StepOutcome(step.id, "failed", error="this powershell.exe is not signed in")
        else:
            host.in_place.add(step.id)
        return StepOutcome(step.id, "done", output={"summary": f"{step.id} done"})


# --- the real rest: configuration, secrets, progress store and leases on Redis --------------


class Rig:
    def __init__(self, config: Config, rclient: redis.Redis, world: FakeWinRM) -> None:
        self.world = world
        self.store = RequestStore(rclient, prefix=PREFIX)
        self.locks = Locks(rclient, ttl_s=5, prefix=PREFIX)
        redactor = Redactor()
        self.runner = Runner(
            config,
            SecretsProvider(config, dict(PASSWORDS), redactor=redactor),
            RedisProgress(self.store),
            self.locks,
            session_factory=world,  # type: ignore[arg-type]
            settings=RunnerSettings(
                operation_timeout_s=1, backoff_scale=0.001, host_wait_s=5, registration_wait_s=30
            ),
            redactor=redactor,
        )

    def run(self, change: ChangeSpec, rid: str = "CS-0001", **kw: Any) -> RunOutcome:
        request = Request(id=rid, change=change, requester="U1", channel="C1", created_at=0, **kw)
        return self.runner.run(request, should_stop=lambda: False)

    def saved(self, host: str, rid: str = "CS-0001") -> dict[str, StepStatus]:
        return {k: v.status for k, v in self.store.load_steps(rid, host).items()}


@pytest.fixture
def rig(tmp_path: Path, rclient: redis.Redis) -> Callable[..., Rig]:
    def make(*hosts: str, step_s: float = 0.0) -> Rig:
        config = write_config(tmp_path / "config", dict.fromkeys(hosts, 5985))
        return Rig(config, rclient, FakeWinRM(*hosts, step_s=step_s))

    return make


def install(*hosts: str, **kw: Any) -> ChangeSpec:
    kw.setdefault("domains", (DomainSpec("contoso.com"),))
    return ChangeSpec(kind=ChangeKind.INSTALL, hosts=tuple(hosts), **kw)


FULL_INSTALL = [
    ("run", "preflight"),
    ("check", "stage"),
    ("run", "stage"),
    ("check", "install"),
    ("run", "install"),
    ("run", "import"),
    ("run", "connect"),
    ("check", "gmsa"),
    ("run", "gmsa"),
    ("check", "domain:contoso.com"),
    ("run", "domain:contoso.com"),
    ("run", "restart"),
    ("run", "verify"),
]


def test_a_fresh_host_runs_every_step_in_order_each_checked_first(rig: Callable[..., Rig]) -> None:
    r = rig("SYNC01")
    assert r.run(install("SYNC01")).status == "succeeded"
    assert r.world.hosts["SYNC01"].asked() == FULL_INSTALL
    assert set(r.saved("SYNC01").values()) == {StepStatus.DONE}


# --- resume ---------------------------------------------------------------------------------


def test_a_resumed_run_does_not_run_again_what_an_earlier_attempt_finished(
    rig: Callable[..., Rig],
) -> None:
    r = rig("SYNC01")
    host = r.world.hosts["SYNC01"]
    host.fail["domain:contoso.com"] = "the domain admin password has expired"
    first = r.run(install("SYNC01"))
    assert first.hosts["SYNC01"].stopped_at == "domain:contoso.com"
    assert r.saved("SYNC01")["gmsa"] is StepStatus.DONE
    before = len(host.journal)

    second = r.run(install("SYNC01"))  # the same request again (a redelivery, a retry)
    assert second.status == "succeeded", second.to_dict()
    again = [(what, step) for _, what, step in host.journal[before:]]
    # stage and install are only checked; gmsa's check already answered in the registration
    # probe, so it is not even sent; the domain step runs (its check says it is not in place)
    assert ("check", "stage") in again and ("check", "install") in again
    assert not [a for a in again if a[1] == "gmsa"]
    assert ("run", "domain:contoso.com") in again
    for step in ("stage", "install", "gmsa"):
        assert host.ran(step) == 1, step
    results = r.store.load_steps("CS-0001", "SYNC01")
    assert results["stage"].status is StepStatus.SKIPPED
    assert "in an earlier attempt" in results["stage"].summary
    assert results["gmsa"].summary.startswith("already done (checked before sign-in)")
    assert results["domain:contoso.com"].attempt == 2


def test_a_run_of_a_host_where_everything_is_in_place_sends_no_entra_secret(
    rig: Callable[..., Rig],
) -> None:
    r = rig("SYNC01")
    host = r.world.hosts["SYNC01"]
    assert r.run(install("SYNC01")).status == "succeeded"
    sent = list(host.secrets_sent)
    before = len(host.journal)
    assert r.run(install("SYNC01"), rid="CS-0002").status == "succeeded"
    again = [(w, s) for _, w, s in host.journal[before:]]
    assert ("run", "connect") not in again  # every later sign-in step is in place: no sign-in
    assert r.saved("SYNC01", "CS-0002")["connect"] is StepStatus.SKIPPED
    assert host.secrets_sent == sent  # nothing new reached the host
    # restart: nothing changed and (here) its idle check passes; only read-only work is left
    assert [s for w, s in again if w == "run"] == ["preflight", "import", "probe:connect", "verify"]


def test_retry_from_a_step_runs_only_that_step_onwards_and_what_its_session_needs(
    rig: Callable[..., Rig],
) -> None:
    r = rig("SYNC01")
    host = r.world.hosts["SYNC01"]
    host.in_place |= {"stage", "install", "gmsa"}  # an earlier attempt got that far
    out = r.run(install("SYNC01"), retry_from="domain:contoso.com")
    assert out.status == "succeeded", out.to_dict()
    assert host.asked() == [
        ("run", "preflight"),  # always re-checked
        ("run", "import"),  # a new powershell.exe has neither the module ...
        ("run", "probe:connect"),  # (is every sign-in step in place? no: domain is not)
        ("run", "connect"),  # ... nor the sign-in
        ("check", "domain:contoso.com"),
        ("run", "domain:contoso.com"),
        ("run", "restart"),
        ("run", "verify"),
    ]
    assert set(r.saved("SYNC01")) == {
        "preflight",
        "import",
        "connect",
        "domain:contoso.com",
        "restart",
        "verify",
    }


def test_retry_from_a_step_the_change_does_not_have_runs_nothing(rig: Callable[..., Rig]) -> None:
    r = rig("SYNC01")
    out = r.run(install("SYNC01"), retry_from="writeback")
    assert out.hosts["SYNC01"].status == "failed"
    assert "there is no step 'writeback'" in str(out.hosts["SYNC01"].error)
    assert r.world.sessions == []


# --- fence loss -----------------------------------------------------------------------------


def test_a_save_whose_host_lease_is_gone_stops_the_host_before_the_next_step(
    rig: Callable[..., Rig], rclient: redis.Redis
) -> None:
    r = rig("SYNC01")
    host = r.world.hosts["SYNC01"]
    key = r.locks.host_key("SYNC01")
    # while staging, the lease expires (a stalled worker) and another run takes the host
    host.during["stage"] = lambda s: rclient.set(key, "CS-0002|99")
    out = r.run(install("SYNC01"))
    assert out.hosts["SYNC01"].status == "lost", out.to_dict()
    assert [s for _, s in host.asked()] == ["preflight", "stage", "stage"]  # install never asked
    # the refused save wrote nothing: stage's result and install's start are not recorded
    assert r.saved("SYNC01") == {"preflight": StepStatus.DONE, "stage": StepStatus.RUNNING}
    assert rclient.get(key) == b"CS-0002|99"  # and the new holder keeps its lease


def test_a_save_whose_registration_lease_is_gone_stops_the_host(
    rig: Callable[..., Rig], rclient: redis.Redis
) -> None:
    r = rig("SYNC01")
    host = r.world.hosts["SYNC01"]
    key = r.locks.registration_key("contoso")
    host.during["gmsa"] = lambda s: rclient.set(key, "CS-0002:SYNC02|99")
    out = r.run(install("SYNC01"))
    assert out.hosts["SYNC01"].status == "lost", out.to_dict()
    assert not [a for a in host.asked() if a[1].startswith("domain:")]
    assert r.saved("SYNC01")["gmsa"] is StepStatus.RUNNING


# --- the tenant registration lease ----------------------------------------------------------


def test_registration_steps_of_two_hosts_of_one_tenant_never_overlap(
    rig: Callable[..., Rig],
) -> None:
    r = rig("SYNC01", "SYNC02", step_s=0.02)
    both_installing = threading.Barrier(2, timeout=10)
    for host in r.world.hosts.values():  # install runs in parallel: each waits for the other
        host.during["install"] = lambda s: both_installing.wait()
    out = r.run(install("SYNC01", "SYNC02"))
    assert out.status == "succeeded", out.to_dict()
    spans: dict[str, tuple[int, int]] = {}
    for name in ("SYNC01", "SYNC02"):
        marks = [i for i, (_, h, s) in enumerate(r.world.timeline) if h == name and s.registration]
        assert marks, f"{name} ran no registration step"
        spans[name] = (marks[0], marks[-1])
    (_, a_last), (b_first, _) = sorted(spans.values())
    assert a_last < b_first, f"registration of one host began inside the other's: {spans}"
    assert r.store.redis.get(r.locks.registration_key("contoso")) is None  # released


# --- reconnect ------------------------------------------------------------------------------


def test_a_connection_lost_after_the_installer_ran_is_rechecked_not_rerun(
    rig: Callable[..., Rig],
) -> None:
    r = rig("SYNC01")
    host = r.world.hosts["SYNC01"]
    host.during["install"] = lambda s: s.drop(may_have_started=True)
    out = r.run(install("SYNC01"))
    assert out.status == "succeeded", out.to_dict()
    assert host.ran("install") == 1
    assert host.asked(session=2)[0] == ("check", "install")  # the new session checks first
    assert r.saved("SYNC01")["install"] is StepStatus.SKIPPED
    # the lost shell may still be installing: it is not deleted from the new session
    assert r.world.sessions[1].discarded == []


def test_a_connection_lost_after_sign_in_reconnects_signs_in_again_and_rechecks(
    rig: Callable[..., Rig],
) -> None:
    r = rig("SYNC01")
    host = r.world.hosts["SYNC01"]
    host.during["gmsa"] = lambda s: s.drop(may_have_started=True)
    out = r.run(install("SYNC01"))
    assert out.status == "succeeded", out.to_dict()
    assert host.asked(session=2)[:3] == [("run", "import"), ("run", "connect"), ("check", "gmsa")]
    assert host.ran("gmsa") == 1
    assert r.world.sessions[1].discarded == ["shell-1"]  # the orphaned shell is ended


@pytest.mark.parametrize(("may_have_started", "status"), [(False, "succeeded"), (True, "failed")])
def test_a_step_without_a_check_is_run_again_only_if_it_cannot_have_started(
    rig: Callable[..., Rig], may_have_started: bool, status: str
) -> None:
    r = rig("SYNC01")
    host = r.world.hosts["SYNC01"]
    where = host.during if may_have_started else host.before
    where["permissions"] = lambda s: s.drop(may_have_started=may_have_started)
    out = r.run(install("SYNC01", permissions=("BasicRead",)))
    assert out.status == status, out.to_dict()
    assert host.ran("permissions") == 1  # never twice
    if may_have_started:
        assert "not retried: it may have run and has no check" in str(out.hosts["SYNC01"].error)
        assert r.saved("SYNC01")["permissions"] is StepStatus.FAILED


def test_reconnects_are_bounded(rig: Callable[..., Rig]) -> None:
    r = rig("SYNC01")
    host = r.world.hosts["SYNC01"]

    def drops_every_time(session: FakeSession) -> None:
        host.before["verify"] = drops_every_time
        session.drop(may_have_started=False)

    host.before["verify"] = drops_every_time
    out = r.run(install("SYNC01"))
    assert out.hosts["SYNC01"].status == "failed"
    assert out.hosts["SYNC01"].stopped_at == "verify"
    assert len(r.world.sessions) == 1 + r.runner.settings.max_reconnects
