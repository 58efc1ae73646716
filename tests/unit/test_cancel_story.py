"""What a cancelled run says about the host, from the steps that are done, and how a step the
cancel does not interrupt ended, from its times and the cancel's."""

from __future__ import annotations

from workers.runbook.cancel_story import completion_words, host_state, ran_past_cancel
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


def test_a_step_that_ended_after_the_cancel_ran_to_completion_with_its_real_times() -> None:
    # the reviewer's case: the cancel 3 s into a 21 s install
    words = completion_words("install", started_at=100.0, finished_at=121.0, cancel_at=103.0)
    assert words.startswith("install cannot be stopped mid-way")
    assert "so it ran to completion 18.0 s after the cancel (21.0 s in all)" in words
    assert "before the cancel" not in words
    assert ran_past_cancel(121.0, 103.0)


def test_a_step_that_ended_before_the_cancel_had_already_finished() -> None:
    words = completion_words("install", started_at=100.0, finished_at=121.0, cancel_at=121.5)
    assert words == "install had already finished (21.0 s) before the cancel was asked"
    assert not ran_past_cancel(121.0, 121.5)
    # the same instant is not "during": the result was in before the cancel
    assert not ran_past_cancel(121.0, 121.0)
    # no cancel time known: the run saw the cancel only after the step
    assert completion_words("install", started_at=1.0, finished_at=2.0, cancel_at=None) == (
        "install had already finished (1.0 s) before the cancel was asked"
    )


def test_a_step_that_failed_after_the_cancel_says_so() -> None:
    words = completion_words(
        "install", started_at=0.0, finished_at=12.0, cancel_at=2.0, succeeded=False
    )
    assert "so it ran to its end and failed 10.0 s after the cancel (12.0 s in all)" in words
