"""What a cancelled run left on a host, in the words the operator reads.

A cancel stops the run between steps or terminates the running one, except a step that runs to
completion (the installer: ``steps.RUNS_TO_COMPLETION``), which the run waits for. The card must
not say "cancelled while running" when the agent is in fact installed, nor "finished before the
cancel" when it finished long after: this module turns the steps that are done into one sentence
on the host's state and one next step, and the times of the step and the cancel into how that
step ended.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from workers.runbook.steps import Step

# A cancelled request is final (``retry`` refuses it): the way on is a new request, whose
# checks skip every step already in place.
AGAIN = "submit the request again (its checks skip what is already done)"


def host_state(steps: Sequence[Step], done: Collection[str]) -> str:
    """``done``: ids of the steps whose effect is in place (done or skipped)."""
    ids = [s.id for s in steps]
    left = [s for s in steps if s.id not in done]
    if not left:
        return "every step is done; nothing is left to do"
    changed = [s for s in steps if s.id in done and s.kind == "change"]
    registration = [s for s in steps if s.registration and s.kind != "session"]
    if "install" in ids and "install" in done and any(s.id not in done for s in registration):
        return (
            "the agent is installed but not registered: "
            f"{AGAIN} to register it, or uninstall the agent"
        )
    if "install" in ids and "install" not in done:
        if "stage" in done:
            return f"the installer is staged but the agent is not installed: {AGAIN}"
        if not changed:
            return f"nothing was changed on the host: {AGAIN}"
    if not changed:
        return f"nothing was changed on the host by this run: {AGAIN}"
    return f"{left[0].id} and the steps after it did not run: {AGAIN}"


def ran_past_cancel(finished_at: float, cancel_at: float | None) -> bool:
    """Was the cancel asked before the step ended? (No cancel time: the run saw it only after.)"""
    return cancel_at is not None and cancel_at < finished_at


def completion_words(
    step_id: str,
    *,
    started_at: float,
    finished_at: float,
    cancel_at: float | None,
    succeeded: bool = True,
) -> str:
    """How a step that a cancel does not interrupt ended, from the times: it had finished
    before the cancel was asked, or it ran to its end after the cancel (and how long)."""
    took = f"{max(0.0, finished_at - started_at):.1f} s"
    if not ran_past_cancel(finished_at, cancel_at):
        return f"{step_id} had already finished ({took}) before the cancel was asked"
    assert cancel_at is not None
    after = f"{max(0.0, finished_at - cancel_at):.1f} s"
    ended = "ran to completion" if succeeded else "ran to its end and failed"
    return (
        f"{step_id} cannot be stopped mid-way (an installer cut off half-way can leave a broken "
        f"install), so it {ended} {after} after the cancel ({took} in all)"
    )
