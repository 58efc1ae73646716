"""Block Kit builders: content, buttons, and Slack's limits under long and hostile inputs."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import blocks as B
from bot.render import block_texts
from workers.domain.model import (
    Approval,
    ChangeKind,
    ChangeSpec,
    DomainSpec,
    Request,
    State,
    StepResult,
    StepStatus,
)

HOSTS = ("SYNC01", "OLDTLS01")
PLAN = [("preflight", "Preflight checks"), ("stage", "Stage installer"), ("install", "Install")]
GOOD = {
    "ok": True,
    "blockers": [],
    "warnings": ["A reboot is pending"],
    "facts": {
        "os_caption": "Windows Server 2022 Datacenter",
        "dotnet_release": 528040,
        "tls12": True,
        "agent_installed": False,
    },
}
BAD = {
    "ok": False,
    "blockers": [{"what": "TLS 1.2 is disabled", "fix": "Set SchUseStrongCrypto=1 and reboot"}],
    "warnings": [],
    "facts": {"tls12": False},
}


def make_request(hosts: tuple[str, ...] = HOSTS, **kw: Any) -> Request:
    change = ChangeSpec(
        kind=ChangeKind.INSTALL,
        hosts=hosts,
        domains=(DomainSpec("contoso.com", ("dc1.contoso.com",)),),
        gmsa="provAgent$",
        writeback=True,
    )
    req = Request(
        id="CS-0001",
        change=change,
        requester="U01ALICE",
        channel="C01OPS",
        created_at=1_700_000_000.0,
        expires_at=1_700_003_600.0,
        request_hash="h1",
        approvals_needed=2,
    )
    for key, value in kw.items():
        setattr(req, key, value)
    return req


def plan_for(req: Request, steps: list[tuple[str, str]] = PLAN) -> dict[str, list[tuple[str, str]]]:
    return {h: list(steps) for h in req.change.hosts}


# --- limit checking ---------------------------------------------------------------------------


walk_texts = block_texts


def check_button(button: dict[str, Any]) -> None:
    assert len(button["text"]["text"]) <= 75
    assert len(button["value"]) <= 2000
    confirm = button.get("confirm")
    if confirm:
        assert len(confirm["title"]["text"]) <= 100
        assert len(confirm["text"]["text"]) <= 300
        assert len(confirm["confirm"]["text"]) <= 30
        assert len(confirm["deny"]["text"]) <= 30


def check_limits(blocks: list[dict[str, Any]], max_blocks: int = 50) -> None:
    assert 0 < len(blocks) <= max_blocks
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids))
    for block in blocks:
        kind = block["type"]
        if kind == "section":
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert len(field["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        elif kind == "header":
            assert len(block["text"]["text"]) <= 150
        elif kind == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
        elif kind == "actions":
            assert len(block["elements"]) <= 25
            for element in block["elements"]:
                check_button(element)
    for text in walk_texts(blocks):
        assert text.count("```") % 2 == 0, text  # no code block left open by a cut
        assert "<!channel>" not in text and "<!here>" not in text


def actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def by_action(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for e in actions(blocks)}


def all_text(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(walk_texts(blocks))


# --- approval card ----------------------------------------------------------------------------


def test_approval_card_content_and_buttons() -> None:
    req = make_request(hosts=("SYNC01",))
    req.approvals.append(Approval("U02BOB", 1_700_000_100.0, "h1"))
    text, blocks = B.approval_card(
        req,
        plan_steps=plan_for(req),
        preflight={"SYNC01": GOOD},
        requester_name="alice",
        warnings=["SYNC01 skips certificate validation"],
    )
    check_limits(blocks)
    body = all_text(blocks)
    assert blocks[0]["type"] == "header" and "CS-0001" in blocks[0]["text"]["text"]
    for expected in (
        "alice",
        "SYNC01",
        "contoso.com (preferred DCs: dc1.contoso.com)",
        "custom `provAgent$`",
        "Password writeback: enable",
        "1 of 2 (<@U02BOB>)",
        "<!date^1700003600^",
        "Windows Server 2022 Datacenter",
        ".NET: 4.8 (528040)",
        "TLS 1.2: on",
        "Agent: not installed",
        "1. Preflight checks",
        "3. Install",
        "A reboot is pending",
        "skips certificate validation",
    ):
        assert expected in body, expected
    buttons = by_action(blocks)
    approve = buttons["approve"]
    assert approve["value"] == "CS-0001" and approve["style"] == "primary"
    assert approve["confirm"]["title"]["text"] == "Approve CS-0001?"
    assert buttons["deny"]["value"] == "CS-0001" and buttons["deny"]["style"] == "danger"
    assert buttons["cancel"]["value"] == "CS-0001"
    assert blocks[-1]["type"] == "actions"
    assert "CS-0001" in text and "alice" in text


def test_blocker_removes_approve_and_says_why() -> None:
    req = make_request()
    _, blocks = B.approval_card(
        req, plan_steps=plan_for(req), preflight={"SYNC01": GOOD, "OLDTLS01": BAD}
    )
    check_limits(blocks)
    buttons = by_action(blocks)
    assert "approve" not in buttons
    assert {"deny", "cancel"} <= set(buttons)
    body = all_text(blocks)
    assert "TLS 1.2 is disabled" in body and "Fix: Set SchUseStrongCrypto=1 and reboot" in body
    assert "Approval is blocked" in body and "`/cloudsync check OLDTLS01`" in body
    assert "check SYNC01" not in body


def test_failed_preflight_without_blockers_also_blocks() -> None:
    req = make_request(hosts=("SYNC01",))
    failed = {"ok": False, "blockers": [], "error": "host unreachable"}
    _, blocks = B.approval_card(req, preflight={"SYNC01": failed})
    assert "approve" not in by_action(blocks)


def test_card_uses_request_preflight_by_default() -> None:
    req = make_request(preflight={"SYNC01": GOOD, "OLDTLS01": BAD})
    _, blocks = B.approval_card(req)
    assert "approve" not in by_action(blocks)


def test_long_inputs_respect_every_limit() -> None:
    hosts = tuple(f"H{i:03d}" for i in range(80))
    req = make_request(hosts=hosts, id="CS-123456789")
    long_steps = [(f"domain:d{i}.com", "Step " + "x" * 200) for i in range(60)]
    preflight = {
        h: {
            "ok": False,
            "blockers": [{"what": "w" * 2000, "fix": "```" + "f" * 3000}] * 3,
            "warnings": ["<!channel> " * 300],
            "facts": {"os_caption": "O" * 5000},
        }
        for h in hosts
    }
    text, blocks = B.approval_card(
        req,
        plan_steps=plan_for(req, long_steps),
        preflight=preflight,
        requester_name="n" * 5000,
        warnings=["w" * 5000] * 20,
    )
    check_limits(blocks)
    assert len(text) <= 3000
    assert blocks[-1]["type"] == "actions"  # the buttons survive the cut
    # many hosts: the preflight notes are summarised ("and N more"), not cut off at random
    assert "more hosts with preflight notes" in all_text(blocks)
    _, decided = B.decided_card(req, plan_steps=plan_for(req, long_steps), preflight=preflight)
    check_limits(decided)


def test_approve_confirm_is_clipped_for_many_hosts() -> None:
    hosts = tuple(f"HOST{i:02d}" for i in range(40))
    req = make_request(hosts=hosts)
    _, blocks = B.approval_card(req, plan_steps=plan_for(req))
    check_limits(blocks)
    assert "approve" in by_action(blocks)


# --- decided card -----------------------------------------------------------------------------


def test_decided_cards_have_no_buttons_and_name_the_decider() -> None:
    cases = [
        (State.DENIED, "U02BOB", "not in the change window <!here>", "Denied by <@U02BOB>"),
        (State.CANCELLED, "U01ALICE", None, "Cancelled by <@U01ALICE>"),
        (State.EXPIRED, None, None, "Expired"),
        (State.APPROVED, "U03CAROL", None, "Approved by <@U02BOB>, <@U03CAROL>"),
        (State.RUNNING, "U03CAROL", None, "Approved by"),
    ]
    for state, who, reason, expected in cases:
        req = make_request(state=state, decided_by=who, decided_at=1_700_000_500.0, reason=reason)
        req.approvals += [
            Approval("U02BOB", 1.0, "h1"),
            Approval("U03CAROL", 2.0, "h1"),
        ]
        text, blocks = B.decided_card(req, plan_steps=plan_for(req), preflight={"SYNC01": GOOD})
        check_limits(blocks)
        assert not actions(blocks), state
        last = blocks[-1]
        assert last["type"] == "context"
        assert expected in last["elements"][0]["text"], (state, last)
        assert "<!date^" not in text  # the fallback shows a plain date
    denied = make_request(state=State.DENIED, decided_by="U02BOB", reason="x <!here>")
    _, blocks = B.decided_card(denied)
    assert "x &lt;!here&gt;" in blocks[-1]["elements"][0]["text"]


# --- progress, replies, summary ---------------------------------------------------------------


def results_for() -> dict[str, list[StepResult]]:
    return {
        "SYNC01": [
            StepResult("SYNC01", "preflight", "Preflight checks", StepStatus.DONE, 10.0, 11.2),
            StepResult("SYNC01", "stage", "Stage installer", StepStatus.SKIPPED, 11.2, 11.3,
                       summary="already staged"),
            StepResult("SYNC01", "install", "Install", StepStatus.RUNNING, 11.3),
        ],
        "OLDTLS01": [
            StepResult("OLDTLS01", "preflight", "Preflight checks", StepStatus.FAILED, 10.0, 12.0,
                       error="TLS 1.2 is off", hint="Enable TLS 1.2"),
            StepResult("OLDTLS01", "stage", "Stage installer", StepStatus.CANCELLED),
        ],
    }  # fmt: skip


def test_progress_card_checklist() -> None:
    req = make_request(state=State.RUNNING, decided_by="U02BOB")
    text, blocks = B.progress_card(req, results_for(), plan_for(req))
    check_limits(blocks)
    body = all_text(blocks)
    assert "✅ Preflight checks · 1.2 s" in body
    assert "⏭️ Stage installer" in body and "already staged" in body
    assert "⏳ Install" in body
    assert "❌ Preflight checks · 2.0 s — TLS 1.2 is off" in body
    assert "🚫 Stage installer" in body
    assert "⬜ Install" in body  # planned, not reached on OLDTLS01
    assert "running" in body and "running" in text
    assert not actions(blocks)


def test_progress_card_keeps_the_latest_attempt_and_unplanned_steps() -> None:
    req = make_request(hosts=("SYNC01",), state=State.RUNNING)
    results = {
        "SYNC01": [
            StepResult("SYNC01", "install", "Install", StepStatus.FAILED, 1, 2, error="1618"),
            StepResult("SYNC01", "install", "Install", StepStatus.DONE, 3, 4, attempt=2),
            StepResult("SYNC01", "verify", "Verify", StepStatus.DONE, 4, 5),
        ]
    }
    _, blocks = B.progress_card(req, results, {"SYNC01": [("install", "Install")]})
    body = all_text(blocks)
    assert "✅ Install · 1.0 s" in body and "1618" not in body
    assert "✅ Verify" in body


def test_step_reply_success_is_one_short_line() -> None:
    result = StepResult(
        "SYNC01", "install", "Install", StepStatus.DONE, 100.0, 101.2, summary="installed"
    )
    text, blocks = B.step_reply(result, request_id="CS-0001")
    assert text == "✅ SYNC01 · install — installed (1.2 s)"
    assert len(blocks) == 1 and blocks[0]["text"]["text"] == text


def test_step_reply_failure_in_full() -> None:
    result = StepResult(
        "SYNC01", "install", "Install", StepStatus.FAILED, 100.0, 101.0,
        error="Installer exit code 1603 <!channel>\n" + "trace line ``` \n" * 2000,
        hint="Read the installer log in %TEMP%", attempt=2,
    )  # fmt: skip
    text, blocks = B.step_reply(result, request_id="CS-0001")
    check_limits(blocks)
    body = blocks[0]["text"]["text"]
    assert "❌ *SYNC01 · install failed* (1.0 s), attempt 2" in body
    assert "```Installer exit code 1603 &lt;!channel&gt;" in body
    assert "*What to do:* Read the installer log in %TEMP%" in body
    assert body.endswith("`/cloudsync retry CS-0001 --from install`")
    assert "retry CS-0001 --from install" in text and "<!channel>" not in text


def test_summary_mentions_requester_and_how_to_retry() -> None:
    req = make_request(state=State.FAILED, stopped_at="preflight")
    text, blocks = B.summary(req, results_for(), "U01ALICE")
    check_limits(blocks)
    body = all_text(blocks)
    assert text.startswith("<@U01ALICE>") and body.startswith("<@U01ALICE>")
    assert "*failed*" in body
    assert "❌ *OLDTLS01*: failed at preflight" in body and "Enable TLS 1.2" in body
    assert "`/cloudsync retry CS-0001 --from preflight`" in body
    ok = make_request(hosts=("SYNC01",), state=State.SUCCEEDED)
    done = {"SYNC01": [StepResult("SYNC01", "verify", "Verify", StepStatus.DONE, 1.0, 2.0)]}
    text, blocks = B.summary(ok, done, "U01ALICE")
    assert "✅ *SYNC01*: 1 done, 0 skipped" in all_text(blocks)
    assert "retry" not in all_text(blocks)


# --- modal, texts, home -----------------------------------------------------------------------


def test_deny_modal() -> None:
    view = B.deny_modal("CS-123456789")
    assert view["type"] == "modal" and view["callback_id"] == "deny_reason"
    assert view["private_metadata"] == "CS-123456789"
    assert len(view["title"]["text"]) <= 24
    (block,) = view["blocks"]
    assert block["type"] == "input" and block["optional"] is False
    assert block["element"]["type"] == "plain_text_input"
    assert (block["block_id"], block["element"]["action_id"]) == ("reason", "reason")


def test_texts_are_escaped_and_informative() -> None:
    req = make_request(state=State.FAILED, stopped_at="install")
    status = B.status_text(
        req,
        results_for(),
        [{"at": 1_700_000_000.0, "event": "requested", "user": "U01ALICE"}, "odd <!here>"],
    )
    assert "*CS-0001*" in status and "failed" in status and "--from install" in status
    assert "requested by <@U01ALICE>" in status and "<!here>" not in status
    assert "CS-0001" in B.list_text([req]) and B.list_text([]) == "No requests match."
    agents = B.agents_text(
        {
            "SYNC01": {"installed": True, "version": "1.1.2334.0", "service": "Running"},
            "SYNC02": {"installed": False},
            "SYNC03": {"reachable": False, "error": "connection refused"},
        }
    )
    assert "SYNC01*: agent 1.1.2334.0 · service Running" in agents
    assert "SYNC02*: no agent" in agents and "SYNC03*: unreachable" in agents
    check = B.check_text("OLDTLS01", BAD)
    assert "TLS 1.2 is disabled" in check and "Fix:" in check and "check OLDTLS01" in check
    assert "✅ Preflight passed" in B.check_text("SYNC01", GOOD)


def test_plan_text_scripts_in_code_blocks_and_clipped() -> None:
    change = make_request().change
    script = "Connect-AADCloudSyncAzureAD -Credential $Secrets['entra_admin'] # <x>"
    steps = {h: [("connect", "Sign in to Entra", script)] for h in change.hosts}
    text = B.plan_text(change, steps)
    assert "*SYNC01, OLDTLS01* (same plan)" in text
    assert (
        "```Connect-AADCloudSyncAzureAD -Credential $Secrets['entra_admin'] # &lt;x&gt;```" in text
    )
    huge = {h: [(f"s{i}", "T", "x" * 5000) for i in range(30)] for h in change.hosts}
    clipped = B.plan_text(change, huge, max_chars=5000)
    assert len(clipped) <= 5000 and clipped.count("```") % 2 == 0
    assert "plan shortened" in clipped


def test_home_view() -> None:
    ok = make_request(hosts=("SYNC01",), preflight={"SYNC01": GOOD})
    blocked = make_request(id="CS-0002", preflight={"OLDTLS01": BAD})
    view = B.home_view([ok, blocked], [ok])
    assert view["type"] == "home"
    check_limits(view["blocks"], max_blocks=100)
    ids = {(e["action_id"], e["value"]) for e in actions(view["blocks"])}
    assert ("approve", "CS-0001") in ids and ("deny", "CS-0001") in ids
    assert ("approve", "CS-0002") not in ids and ("deny", "CS-0002") in ids
    many = [make_request(id=f"CS-{i:04d}") for i in range(200)]
    view = B.home_view(many, many)
    check_limits(view["blocks"], max_blocks=100)
    assert "list --pending" in all_text(view["blocks"])
    empty = B.home_view([], [])
    assert "Nothing is waiting for you" in all_text(empty["blocks"])


# --- fuzzing the untrusted strings ------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(error=st.text(max_size=5000), hint=st.text(max_size=500), title=st.text(max_size=300))
def test_fuzz_untrusted_text_never_breaks_limits(error: str, hint: str, title: str) -> None:
    result = StepResult("SYNC01", "install", title, StepStatus.FAILED, 1.0, 2.0, error=error,
                        hint=hint, summary=title)  # fmt: skip
    _, blocks = B.step_reply(result, request_id="CS-0001")
    check_limits(blocks)
    req = make_request(state=State.DENIED, decided_by="U02BOB", reason=error)
    _, blocks = B.decided_card(req, preflight={"SYNC01": {"ok": False, "blockers": [
        {"what": title, "fix": hint}]}})  # fmt: skip
    check_limits(blocks)
    _, blocks = B.progress_card(req, {"SYNC01": [result]}, {"SYNC01": [("install", title)]})
    check_limits(blocks)
    for text in walk_texts(blocks):
        stripped = text.replace("<@", "").replace("<!date^", "").replace("<#", "")
        assert "<" not in stripped.replace("<!subteam^", "")


# --- with the runbook's real plan and preflight facts ------------------------------------------


def test_plan_text_renders_the_runbook_plan_without_secret_values() -> None:
    from pathlib import Path

    from bot.grammar import Plan, parse
    from workers.domain.config import load_config
    from workers.runbook.plan import render_plan

    config = load_config(Path(__file__).resolve().parents[2] / "config" / "demo")
    command = parse("plan install SYNC01,SYNC02 --domain contoso.com --gmsa myg", config.hosts)
    assert isinstance(command, Plan)
    text = B.plan_text(command.change, render_plan(command.change, config), max_chars=100_000)
    assert "*SYNC01, SYNC02* (same plan)" in text
    assert "(`preflight`)" in text and "(`gmsa`)" in text
    assert "credentials: `" in text
    assert text.count("```") % 2 == 0
    for secret in (config.folder / "secrets").iterdir():
        value = secret.read_text().strip()
        assert value and value not in text, secret.name


def test_facts_line_reads_the_registry_facts() -> None:
    facts = {
        "os_caption": "Microsoft Windows Server 2019 Standard",
        "installation_type": "Server Core",
        "dotnet_release": 461814,
        "tls12_client_enabled": 1,
        "tls12_client_disabled_by_default": 0,
        "tls12_server_enabled": 1,
        "tls12_server_disabled_by_default": 0,
        "sch_use_strong_crypto": 1,
        "agent_installed": True,
        "agent_version": "1.1.2334.0",
    }
    line = B.facts_line(facts)
    assert "Windows Server 2019 Standard (Server Core)" in line
    assert ".NET: 4.7.2 (461814)" in line
    assert "TLS 1.2: on" in line and "Agent: installed 1.1.2334.0" in line
    assert "TLS 1.2: OFF" in B.facts_line({**facts, "sch_use_strong_crypto": 0})
