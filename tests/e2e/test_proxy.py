"""proxy set / clear through the real stack: a signed slash command, the approval card showing
the proxy, a second person's approval, the Celery worker's run over WinRM on a simulated host
whose agent config file changes, and a repeat that changes nothing."""

from __future__ import annotations

from xml.dom import minidom

from simulator.host import AGENT_CONFIG
from tests.e2e.harness import E2EStack
from tests.e2e.slack_helpers import ack_text, wait_card
from workers.domain.model import ChangeKind, State, StepStatus

URL = "http://proxy.contoso.com:8080"


def proxy_address(e2e: E2EStack) -> str | None:
    entry = e2e.sim_host("PROXY01").file(AGENT_CONFIG)
    assert entry is not None
    found = minidom.parseString(entry.content).getElementsByTagName("proxy")
    return found[0].getAttribute("proxyaddress") if found else None


def restarts(e2e: E2EStack) -> int:
    events = e2e.sim_host("PROXY01").record.to_dict()["events"]
    return sum(1 for e in events if e["event"] == "service_restarted")


def run(e2e: E2EStack, text: str) -> dict[str, StepStatus]:
    request = e2e.submit("alice", text)
    assert request.state is State.PENDING_APPROVAL
    assert e2e.click("bob", "approve", request.id).status_code == 200
    done = e2e.wait_state(request.id, State.SUCCEEDED, State.FAILED, timeout=90)
    assert done.state is State.SUCCEEDED, done.reason
    return {r.step_id: r.status for r in e2e.store.all_steps(done)["PROXY01"]}


def test_proxy_set_is_approved_runs_and_a_repeat_is_skipped(e2e: E2EStack) -> None:
    text = f"proxy set PROXY01 --url {URL} --bypass *.contoso.com"
    request = e2e.submit("alice", text)
    assert request.change.kind is ChangeKind.PROXY_SET
    assert request.change.proxy_url == URL
    pending = wait_card(e2e, request.id, URL, "*.contoso.com")
    assert pending is not None
    assert e2e.slash("alice", f"cancel {request.id}").status_code == 200
    e2e.wait_state(request.id, State.CANCELLED)
    assert proxy_address(e2e) is None  # nothing ran without an approval

    before = restarts(e2e)
    steps = run(e2e, text)
    assert set(steps.values()) == {StepStatus.DONE}, steps
    assert proxy_address(e2e) == URL
    assert restarts(e2e) == before + 1
    assert e2e.sim_host("PROXY01").agent_proxy == URL

    again = run(e2e, text)
    for step in ("proxy_backup", "proxy", "restart"):
        assert again[step] is StepStatus.SKIPPED, again
    assert restarts(e2e) == before + 1

    cleared = run(e2e, "proxy clear PROXY01")
    assert cleared["proxy"] is StepStatus.DONE
    assert proxy_address(e2e) is None and e2e.sim_host("PROXY01").agent_proxy is None


def test_a_hostile_url_is_refused_before_anything_is_stored(e2e: E2EStack) -> None:
    count = len(e2e.store.recent(limit=10000))
    response = e2e.slash("alice", "proxy set PROXY01 --url http://admin:Pa55@proxy:8080")
    assert response.status_code == 200
    assert "user name or password" in ack_text(response)
    assert len(e2e.store.recent(limit=10000)) == count
