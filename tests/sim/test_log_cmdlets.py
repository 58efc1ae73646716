"""Get-ChildItem, Get-Content -Tail and Get-WinEvent on the simulated host, as strict as
Windows: missing paths and empty or missing event logs are errors ErrorAction decides on."""

from __future__ import annotations

import datetime

import pytest

from simulator.host import ADMIN_CHANNEL, TRACE_DIR, SimHost
from simulator.pwsh.testing import clean_clixml, run_encoded
from simulator.world import default_world


@pytest.fixture
def host() -> SimHost:
    return default_world(startup_cost_s=0, install_s=0).hosts["SIM01"]


def out(host: SimHost, script: str) -> str:
    r = run_encoded(host, script)
    return r.stdout.strip() + clean_clixml(r.stderr).strip()


def test_the_install_starts_the_traces_and_the_admin_channel(host: SimHost) -> None:
    assert host.file(TRACE_DIR) is None
    host.apply_install()
    names = out(host, f"(Get-ChildItem -LiteralPath '{TRACE_DIR}' -Filter '*.log' -File).Name")
    assert names.startswith("AzureADConnectProvisioningAgent_") and names.endswith(".log")
    assert "service started" in out(host, f"(Get-WinEvent -LogName '{ADMIN_CHANNEL}').Message")


def test_get_content_tail_gives_the_last_lines_without_line_ends(host: SimHost) -> None:
    host.apply_install()
    path = host.write_trace("a\nb\nc")
    tail = out(host, f"(Get-Content -LiteralPath '{path}' -Tail 2) -join '|'")
    assert tail.endswith(" b|" + tail.split("|")[1]) and tail.split("|")[1].endswith(" c")
    assert "\r" not in tail
    assert out(host, f"@(Get-Content -LiteralPath '{path}' -Tail 2).Count") == "2"
    assert out(host, f"@(Get-Content -LiteralPath '{path}' -TotalCount 1).Count") == "1"


def test_a_missing_path_is_path_not_found(host: SimHost) -> None:
    text = out(host, "Get-ChildItem -LiteralPath 'C:\\NoSuch'; Get-Content -Path 'C:\\NoSuch.log'")
    assert text.count("because it does not exist") == 2
    assert "PathNotFound,Microsoft.PowerShell.Commands.GetChildItemCommand" in text
    assert "PathNotFound,Microsoft.PowerShell.Commands.GetContentCommand" in text
    quiet = "Get-ChildItem -LiteralPath 'C:\\NoSuch' -ErrorAction SilentlyContinue; 'went on'"
    assert out(host, quiet) == "went on"


def test_get_winevent_without_the_log_or_without_events(host: SimHost) -> None:
    missing = out(host, f"Get-WinEvent -LogName '{ADMIN_CHANNEL}'")
    assert "There is not an event log on the localhost computer that matches" in missing
    host.event_logs["empty/admin"] = []
    empty = out(host, "Get-WinEvent -LogName 'Empty/Admin'; 'next'")
    assert "No events were found that match the specified selection criteria." in empty
    assert "next" in empty  # non-terminating: the script goes on
    caught = (
        "try { Get-WinEvent -LogName 'Empty/Admin' -ErrorAction Stop } "
        "catch { $_.FullyQualifiedErrorId }"
    )
    assert (
        out(host, caught)
        == "NoMatchingEventsFound,Microsoft.PowerShell.Commands.GetWinEventCommand"
    )
    assert (
        out(host, "Get-WinEvent -LogName 'Empty/Admin' -ErrorAction SilentlyContinue; 'ok'") == "ok"
    )


def test_get_winevent_is_newest_first_and_bounded(host: SimHost) -> None:
    host.apply_install()
    for i in range(5):
        host.log_event(ADMIN_CHANNEL, 3000 + i, 2, f"error {i}")
    ids = out(host, f"(Get-WinEvent -LogName '{ADMIN_CHANNEL}' -MaxEvents 2).Id -join ','")
    assert ids == "3004,3003"
    oldest = f"@(Get-WinEvent -LogName '{ADMIN_CHANNEL}' -Oldest)[0].Id"
    assert out(host, oldest) == "1001"


def test_files_sort_by_last_write_time(host: SimHost) -> None:
    host.apply_install()
    newer = host.write_trace("n", name="AzureADConnectProvisioningAgent_new.log")
    older = host.write_trace("o", name="AzureADConnectProvisioningAgent_old.log")
    host.file(older).written_at -= 3600  # type: ignore[union-attr]
    host.file(newer).written_at += 60  # type: ignore[union-attr]
    names = out(
        host,
        f"(Get-ChildItem -LiteralPath '{TRACE_DIR}' -File | Sort-Object -Property "
        "LastWriteTime -Descending | Select-Object -First 1).Name",
    )
    assert names == "AzureADConnectProvisioningAgent_new.log"


def test_get_winevent_filters_by_start_and_end_time_before_max_events(host: SimHost) -> None:
    host.apply_install()
    now = datetime.datetime.now()
    for n, (event_id, level, hours_ago) in enumerate(
        [(3100, 2, 50), (3101, 2, 5), (3102, 3, 2), (3103, 4, 1), (3104, 2, 0)]
    ):
        host.log_event(ADMIN_CHANNEL, event_id, level, f"event {n}")
        host.event_logs[ADMIN_CHANNEL.lower()][-1]["at"] = now - datetime.timedelta(hours=hours_ago)
    table = f"LogName = '{ADMIN_CHANNEL}'; Level = 1, 2, 3; StartTime = (Get-Date).AddHours(-24)"
    ids = out(host, f"(Get-WinEvent -FilterHashtable @{{ {table} }}).Id -join ','")
    assert ids == "3104,3102,3101"  # the 50-hour-old error and the information event are out
    bounded = f"(Get-WinEvent -FilterHashtable @{{ {table} }} -MaxEvents 2).Id -join ','"
    assert out(host, bounded) == "3104,3102"
    ended = f"{table}; EndTime = (Get-Date).AddMinutes(-90)"
    assert out(host, f"(Get-WinEvent -FilterHashtable @{{ {ended} }}).Id -join ','") == "3102,3101"
    later = f"LogName = '{ADMIN_CHANNEL}'; StartTime = (Get-Date).AddSeconds(60)"
    none = f"try {{ Get-WinEvent -FilterHashtable @{{ {later} }} -ErrorAction Stop }} "
    none += "catch { $_.FullyQualifiedErrorId }"
    assert out(host, none).startswith("NoMatchingEventsFound")
