"""`make bench` code runs end to end on a tiny load (no figure is checked: no timing asserts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.load import percentile
from bench.run import main


def test_percentile() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0


@pytest.mark.e2e  # starts the benchmark stacks (Celery workers, bot over HTTP)
@pytest.mark.timeout(300)
def test_quick_bench_writes_every_key(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    assert main(["--quick", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    for key in (
        "ack_p50_ms",
        "ack_p99_ms",
        "ack_p50_ms_minimal_bolt",
        "ack_max_rps",
        "dispatch_p50_ms",
        "winrm_http_requests_per_step",
        "step_overhead_p50_ms",
        "install_s_ours",
        "install_s_run_ps",
        "fanout_hosts",
        "fanout_efficiency",
        "slack_calls_per_host_30",
        "status_lag_p95_s",
        "final_card_after_s",
        "fanout_300_3t_efficiency",
        "fanout_300_rss_mb_per_host",
        "fanout_300_redis_commands_per_host_step",
        "fanout_300_slack_calls_per_host",
        "slack_calls_per_install",
        "worker_peak_rss_mb",
        "bot_peak_rss_mb",
        "stage_push_mb_per_s",
        "stage_push_requests_per_mb",
        "machine",
        "targets",
        "failover_recovery_s",
        "failover_lost",
        "failover_doubled",
    ):
        assert key in results, key
    assert results["fanout_state"] == "succeeded"
    assert results["naive_failed_steps"] == []
    assert results["failover_state"] == "succeeded"


def test_spread_reports_each_judged_figure_over_the_runs() -> None:
    from bench.spread import spread

    runs = [
        {
            "fanout_efficiency": 0.95,
            "naive_over_ours": 2.4,
            "targets": {"fanout_efficiency": True, "install_s_run_ps": True},
        },
        {
            "fanout_efficiency": 0.88,
            "naive_over_ours": 2.1,
            "targets": {"fanout_efficiency": False, "install_s_run_ps": True},
        },
        {
            "fanout_efficiency": 0.93,
            "naive_over_ours": 2.2,
            "targets": {"fanout_efficiency": True, "install_s_run_ps": True},
        },
    ]
    out = spread(runs)
    assert out["fanout_efficiency"] == {
        "runs": [0.95, 0.88, 0.93],
        "min": 0.88,
        "median": 0.93,
        "max": 0.95,
        "target_held": [True, False, True],
    }
    assert out["naive_over_ours"]["median"] == 2.2
