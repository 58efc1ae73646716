"""Redis killed (SIGKILL) and restarted during pending approvals and a running install: the
append-only file keeps every request, the install finishes, approvals still work."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import E2EStack, make_config_dir
from tests.e2e.slack_helpers import ack_text
from workers.domain.model import State, StepStatus


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    workdir: Path = tmp_path_factory.mktemp("redis-restart")
    e2e = E2EStack(workdir, make_config_dir(workdir / "config")).start()
    yield e2e
    e2e.stop()


def test_redis_restart_loses_nothing(stack: E2EStack) -> None:
    pending = [
        stack.submit("alice", f"install {h} --domain contoso.com") for h in ("SYNC02", "SYNC03")
    ]
    running = stack.submit("alice", "install SLOW01 --domain contoso.com")
    assert stack.click("bob", "approve", running.id).status_code == 200

    def install_running() -> bool:
        step = stack.store.load_steps(running.id, "SLOW01").get("install")
        return step is not None and step.status is StepStatus.RUNNING

    stack.wait_for(install_running, timeout=30, what="install running")
    server = stack.local.stack.redis_server
    assert server is not None
    server.kill()
    time.sleep(1.5)
    server.start()

    done = stack.wait_state(running.id, State.SUCCEEDED, State.FAILED, timeout=90)
    assert done.state is State.SUCCEEDED, done.reason
    events = [e["event"] for e in stack.sim_host("SLOW01").record.to_dict()["events"]]
    assert events.count("installer_run") == 1

    for request in pending:
        kept = stack.store.get(request.id)
        assert kept is not None and kept.state is State.PENDING_APPROVAL
        assert kept.request_hash == request.request_hash
    assert stack.click("carol", "approve", pending[0].id).status_code == 200
    after = stack.wait_state(pending[0].id, State.SUCCEEDED, State.FAILED, timeout=60)
    assert after.state is State.SUCCEEDED, after.reason
    stack.wait_quiet(timeout=60)


def test_commands_during_an_outage_say_so_and_change_nothing(stack: E2EStack) -> None:
    server = stack.local.stack.redis_server
    assert server is not None
    before = {r.id for r in stack.store.recent(limit=1000)}
    server.kill()
    try:
        response = stack.slash("alice", "install SYNC03 --domain contoso.com")
        assert response.status_code == 200  # acknowledged within Slack's 3 s regardless
        # the replay guard cannot record the signature, so it refuses at once (fail closed)
        assert "cannot reach its store" in ack_text(response)
    finally:
        server.start()
    assert {r.id for r in stack.store.recent(limit=1000)} == before
