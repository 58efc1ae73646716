"""A request whose preflight blocks every host (``proxy clear`` where no agent is installed) is
closed at once in the real ``cloudsync run`` console: the card says why and that nothing is to
approve, it has no buttons, and ``/cloudsync status`` says cancelled, instead of a request left
pending until it expires."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_console_restart import _console

SCRIPT = """\
/cloudsync proxy clear SYNC03
:as bob
:click approve
/cloudsync status CS-0001
"""


def test_blocked_on_every_host_is_closed_with_no_buttons(tmp_path: Path) -> None:
    out = _console(tmp_path / "data", SCRIPT)
    card = out.split("(you are now bob)", 1)[0]
    assert "the provisioning agent is not installed" in card, card
    assert "🚫 Closed" in card and "preflight blocked every host (SYNC03)" in card
    assert "nothing to approve" in card and "@alice, a new request is needed" in card
    assert "[Approve]" not in card and "[Deny]" not in card and "[Cancel request]" not in card
    assert "(no button 'approve' to click)" in out
    status = out.split("bob > /cloudsync status CS-0001", 1)[1]
    assert "*cancelled*" in status and "preflight blocked every host" in status
