"""What a cancelled run says about the host, from the steps that are done."""

from __future__ import annotations

from workers.runbook.cancel_story import host_state
from workers.runbook.steps import Step

STEPS = [
    Step("preflight", "Preflight", "", kind="read"),
    Step("stage", "Stage", ""),
    Step("install", "Install", ""),
    Step("import", "Import", "", kind="session"),
    Step("connect", "Sign in", "", kind="session", registration=True),
    Step("gmsa", "gMSA", "", registration=True),
    Step("verify", "Verify", "", kind="read"),
]


def test_installed_but_not_registered() -> None:
    state = host_state(STEPS, ["preflight", "stage", "install"])
    assert state.startswith("the agent is installed but not registered")


def test_staged_only_and_nothing_changed() -> None:
    assert host_state(STEPS, ["preflight", "stage"]).startswith("the installer is staged")
    assert host_state(STEPS, ["preflight"]).startswith("nothing was changed")


def test_registered_names_what_did_not_run() -> None:
    done = [s.id for s in STEPS[:-1]]
    assert host_state(STEPS, done).startswith("verify and the steps after it did not run")
    assert host_state(STEPS, [s.id for s in STEPS]).startswith("every step is done")
