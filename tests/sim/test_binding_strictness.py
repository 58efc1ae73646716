"""Arguments Windows refuses at binding, and handle sharing as CreateFile decides it: the
simulated host refuses them too (a forgiving simulator would hide a script's mistake)."""

from __future__ import annotations

import pytest

from simulator.host import ADMIN_CHANNEL, SimHost
from simulator.pwsh.testing import clean_clixml, run_encoded
from simulator.world import default_world


@pytest.fixture
def host() -> SimHost:
    host = default_world(startup_cost_s=0, install_s=0).hosts["SIM01"]
    host.apply_install()
    return host


def out(host: SimHost, script: str) -> str:
    r = run_encoded(host, script)
    return r.stdout.strip() + clean_clixml(r.stderr).strip()


def test_get_content_refuses_tail_with_total_count(host: SimHost) -> None:
    path = host.write_trace("a\nb")
    said = out(host, f"Get-Content -LiteralPath '{path}' -Tail 1 -TotalCount 1")
    assert "TotalCount and Tail cannot be used together" in said


def test_get_winevent_binds_as_windows_does(host: SimHost) -> None:
    both = out(
        host,
        f"Get-WinEvent -LogName '{ADMIN_CHANNEL}' -FilterHashtable @{{LogName='{ADMIN_CHANNEL}'}}",
    )
    assert "Parameter set cannot be resolved" in both
    assert "minimum allowed range of 1" in out(
        host, f"Get-WinEvent -LogName '{ADMIN_CHANNEL}' -MaxEvents 0"
    )
    assert "ComputerName" in out(host, f"Get-WinEvent -LogName '{ADMIN_CHANNEL}' -ComputerName x")


def test_execution_policy_values_bind_to_their_enums(host: SimHost) -> None:
    assert 'ExecutionPolicy"' in out(host, "Set-ExecutionPolicy Foo -Scope Process -Force")
    assert "ExecutionPolicyScope" in out(host, "Get-ExecutionPolicy -Scope Bogus")
    assert "ExecutionPolicyScope" in out(host, "Set-ExecutionPolicy Bypass -Scope Bogus -Force")
    assert (
        out(
            host,
            "Set-ExecutionPolicy bypass -Scope process -Force; Get-ExecutionPolicy -Scope Process",
        )
        == "Bypass"
    )


def test_kds_root_key_times_are_datetimes(host: SimHost) -> None:
    said = out(host, "(Get-KdsRootKey)[0].EffectiveTime -le (Get-Date)")
    assert said == "True", said


def test_a_handle_that_shares_no_reading_is_refused_while_another_reads(host: SimHost) -> None:
    path = host.write_trace("x")
    first = host.open_handle(path, frozenset({"read"}), owner=1)
    assert first is not None
    assert host.open_handle(path, frozenset(), owner=2) is None  # FileShare.None: violation
    host.close_handle(path, first)
    assert host.open_handle(path, frozenset(), owner=2) is not None
