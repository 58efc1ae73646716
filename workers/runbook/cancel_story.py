"""What a cancelled run left on a host, in the words the operator reads.

A cancel stops the run between steps or terminates the running one, but a step's work may have
finished anyway (the installer keeps running after its PowerShell command is stopped). The card
must not say "cancelled while running" when the agent is in fact installed: this module turns
the steps that are done into one sentence on the host's state and one next step.
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
