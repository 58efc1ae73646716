"""Staging the installer without the second hop, through the whole path (Bolt's HTTP endpoint,
Celery worker, WinRM, simulator): pushed over WinRM (the default), copied from a share mapped
with an explicit share credential, and share staging without one stopped at preflight."""

from __future__ import annotations

from tests.e2e.harness import E2EStack
from workers.domain.model import State
from workers.runbook.steps import INSTALLER_NAME

STAGED = "C:\\ProgramData\\cloudsync\\" + INSTALLER_NAME


def _events(host) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["event"] for e in host.record.to_dict()["events"]]


def _cmdlets(host) -> list[str]:  # type: ignore[no-untyped-def]
    return [c["name"] for c in host.record.to_dict()["cmdlets"]]


def _install(e2e: E2EStack, host: str) -> None:
    request = e2e.submit("alice", f"install {host} --domain contoso.com")
    assert request.preflight[host].ok is True, request.preflight[host].to_dict()
    assert e2e.click("bob", "approve", request.id).status_code == 200
    done = e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED, timeout=60)
    assert done.state is State.SUCCEEDED, done.reason


def test_install_with_the_installer_pushed_over_winrm(e2e: E2EStack) -> None:
    _install(e2e, "SYNC03")
    host = e2e.sim_host("SYNC03")
    assert _events(host).count("installer_run") == 1
    staged = host.file(STAGED)
    assert staged is not None and staged.signer  # the bytes that arrived carry the signature
    names = _cmdlets(host)
    assert "Copy-Item" not in names and "New-PSDrive" not in names  # no share touched
    assert "share_mapped" not in _events(host)


def test_install_with_share_staging_and_a_share_credential(e2e: E2EStack) -> None:
    _install(e2e, "SHARE01")
    host = e2e.sim_host("SHARE01")
    events = _events(host)
    assert events.count("installer_run") == 1
    # mapped for the preflight check and for the stage step, removed after each
    assert events.count("share_mapped") == 2 and events.count("share_unmapped") == 2
    assert "Copy-Item" in _cmdlets(host)


def test_share_staging_without_a_share_credential_is_stopped_at_preflight(
    e2e: E2EStack,
) -> None:
    request = e2e.submit("alice", "install NOCRED01 --domain contoso.com")
    pre = request.preflight["NOCRED01"]
    assert pre.ok is False
    text = " ".join(f"{p.what} {p.fix}" for p in pre.blockers)
    assert "second hop" in text and "share_credential" in text and "push" in text
    # approval is refused while preflight blocks, and nothing changed on the host
    assert e2e.click("bob", "approve", request.id).status_code == 200
    e2e.wait_quiet()
    assert e2e.store.get(request.id).state is not State.SUCCEEDED
    host = e2e.sim_host("NOCRED01")
    assert host.file(STAGED) is None
    events = _events(host)
    assert "installer_run" not in events and "share_mapped" not in events
    assert not host.installed()
    names = _cmdlets(host)
    assert "Copy-Item" not in names and "New-Item" not in names
