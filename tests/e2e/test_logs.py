"""Logs an SRE can follow: a real run's worker log names the request, host and step on every
step line (context variables set by the Celery task and the runner's host threads)."""

from __future__ import annotations

import json

from tests.e2e.harness import E2EStack
from workers.domain.model import State, StepStatus


def _lines(e2e: E2EStack) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for line in e2e.worker_log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def test_step_lines_carry_request_host_and_step(e2e: E2EStack) -> None:
    request = e2e.submit("alice", "install LOG01 --domain contoso.com")
    assert e2e.click("bob", "approve", request.id).status_code == 200
    done = e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED)
    assert done.state is State.SUCCEEDED, done.reason
    steps = {s.step_id for s in e2e.store.all_steps(done)["LOG01"] if s.status is StepStatus.DONE}
    assert "install" in steps

    def step_lines() -> list[dict]:  # type: ignore[type-arg]
        return [
            line
            for line in _lines(e2e)
            if line.get("request_id") == request.id and line.get("msg", "").startswith("step ")
        ]

    lines = e2e.wait_for(
        lambda: (found := step_lines()) and {x.get("step") for x in found} >= steps and found,
        timeout=15,
        what="a step line per step in the worker log",
    )
    assert all(line.get("host") == "LOG01" for line in lines)
    assert {line["step"] for line in lines} >= steps
    ended = [line for line in lines if line["msg"].startswith("step ended")]
    assert len(ended) >= len(steps)
