"""Messages a user reads name real things (issue 14, point 11): the host, not a ``HOST``
placeholder; the change in words, not the enum's ``domain_add``."""

from __future__ import annotations

from bot.blocks.kit import KIND_TITLES
from workers.domain.model import ChangeKind, HostPreflight
from workers.engine import _unblockable


def test_a_preflight_that_could_not_run_names_the_host_in_its_fix() -> None:
    pre = _unblockable(HostPreflight(ok=False, error="cannot connect"), "SYNC02")
    (blocker,) = pre.blockers
    assert "`/cloudsync check SYNC02`" in str(blocker.fix)
    assert "HOST" not in str(blocker.fix)


def test_every_change_kind_has_words() -> None:
    assert set(KIND_TITLES) == set(ChangeKind)
    assert all("_" not in title for title in KIND_TITLES.values())
