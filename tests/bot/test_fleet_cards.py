"""The live status of a request on many hosts: one card within Slack's limits (50 blocks, 3,000
characters per section text) at 100 and 300 hosts, every host accounted for, and the reply a
host of a multi-host request gets when it is done."""

from __future__ import annotations

import re

import pytest

from bot import blocks as B
from tests.bot.test_blocks import PLAN, all_text, check_limits, make_request, plan_for
from workers.domain.model import State, StepResult, StepStatus

GOOD = {"ok": True, "blockers": [], "warnings": [], "facts": {"tls12": True}}


def _hosts(n: int) -> tuple[str, ...]:
    return tuple(f"PRODSRV{i:03d}" for i in range(n))


def _results(hosts: tuple[str, ...], done: int, failed: int = 0) -> dict[str, list[StepResult]]:
    """The first ``done`` hosts finished, the next ``failed`` failed at install, the rest on
    their second step."""
    out: dict[str, list[StepResult]] = {}
    for i, host in enumerate(hosts):
        if i < done:
            statuses = [StepStatus.DONE] * len(PLAN)
        elif i < done + failed:
            statuses = [StepStatus.DONE, StepStatus.DONE, StepStatus.FAILED]
        else:
            statuses = [StepStatus.DONE, StepStatus.RUNNING]
        out[host] = [
            StepResult(
                host=host,
                step_id=step_id,
                title=title,
                status=status,
                started_at=1.0 + n,
                finished_at=None if status is StepStatus.RUNNING else 2.0 + n,
                error="installer exit 1603" if status is StepStatus.FAILED else "",
            )
            for n, ((step_id, title), status) in enumerate(zip(PLAN, statuses, strict=False))
        ]
    return out


def _host_count(text: str, total: int) -> int:
    """Hosts named in the grid plus those summarised in the "and N more" line."""
    named = len(set(re.findall(r"PRODSRV\d{3}", text)))
    more = re.search(r"and (\d+) more hosts", text)
    return named + (int(more.group(1)) if more else 0)


@pytest.mark.parametrize("n", [30, 100, 300])
def test_live_card_fits_and_accounts_for_every_host(n: int) -> None:
    hosts = _hosts(n)
    req = make_request(hosts=hosts, state=State.RUNNING)
    text, blocks = B.progress_card(req, _results(hosts, n // 2, 3), plan_for(req))
    check_limits(blocks)
    body = all_text(blocks)
    assert f"*{n} hosts:*" in body
    assert f"✅ {n // 2} done" in body and "❌ 3 failed" in body
    assert f"{n - n // 2 - 3} running" in body
    assert _host_count(body, n) == n
    assert body.index("installer exit 1603") < body.index("✅ *PRODSRV000*")  # failures first
    assert len(text) <= 3000


@pytest.mark.parametrize("n", [100, 300])
def test_approval_card_and_summary_fit_at_fleet_size(n: int) -> None:
    hosts = _hosts(n)
    req = make_request(hosts=hosts, preflight={h: GOOD for h in hosts})
    _text, blocks = B.approval_card(req, plan_steps=plan_for(req))
    check_limits(blocks)
    body = all_text(blocks)
    assert f"Preflight passed on {n} of {n} hosts" in body
    assert "Plan on all hosts (3 steps)" in body
    assert blocks[-1]["type"] == "actions" and len(blocks) <= 10  # one plan, not one per host
    req.state = State.SUCCEEDED
    _, final = B.progress_card(req, _results(hosts, n), plan_for(req))
    check_limits(final)
    assert f"✅ {n} done" in all_text(final) and "running" not in all_text(final)
    _, summary = B.summary(req, _results(hosts, n), "U01ALICE")
    check_limits(summary)


def test_a_host_reply_summarises_its_steps() -> None:
    steps = _results(("PRODSRV001",), 1)["PRODSRV001"]
    text, blocks = B.host_finished_reply("PRODSRV001", steps, request_id="CS-0001")
    check_limits(blocks)
    assert "PRODSRV001" in text and "3 done, 0 skipped" in text
    assert len(blocks) == 1


def test_few_hosts_keep_the_detailed_card() -> None:
    req = make_request(state=State.RUNNING)
    _, blocks = B.progress_card(req, _results(req.change.hosts, 1), plan_for(req))
    assert "hosts:*" not in all_text(blocks)
