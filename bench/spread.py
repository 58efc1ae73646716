"""Run the whole benchmark several times and say how far each figure moved.

This machine's speed drifts, so one run's figures are a sample: ``python -m bench.spread --runs 3``
(``make bench RUNS=3``) runs ``bench.run`` that many times, each in a fresh process with its own
stacks, keeps the last run's figures in ``bench/results.json`` and adds ``spread``: for every
figure a target judges, its value in each run, min, median and max, and whether its target held
in every run (``targets_all_runs``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.run import RESULTS

# the figure behind a target whose name is not itself a figure
FIGURE_OF = {"install_s_run_ps": "naive_over_ours"}


def spread(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per judged figure: the runs' values, min, median, max, and its target in every run."""
    out: dict[str, Any] = {}
    for target in runs[-1].get("targets", {}):
        figure = FIGURE_OF.get(target, target)
        values = [r.get(figure) for r in runs]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        out[figure] = {
            "runs": values,
            "min": min(numbers) if numbers else None,
            "median": statistics.median(numbers) if numbers else None,
            "max": max(numbers) if numbers else None,
            "target_held": [bool(r.get("targets", {}).get(target)) for r in runs],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.spread")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny load (smoke test only)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cloudsync-spread-") as tmp:
        for index in range(args.runs):
            out = Path(tmp) / f"run{index}.json"
            cmd = [sys.executable, "-m", "bench.run", "--out", str(out)]
            subprocess.run(cmd + (["--quick"] if args.quick else []), check=True)
            runs.append(json.loads(out.read_text()))
            print(f"bench.spread: run {index + 1} of {args.runs} done", file=sys.stderr)
    result = dict(runs[-1])
    result["spread"] = spread(runs)
    result["runs"] = args.runs
    result["targets_all_runs"] = {
        t: all(r.get("targets", {}).get(t) for r in runs) for t in runs[-1].get("targets", {})
    }
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps({"spread": result["spread"], "targets_all_runs": result["targets_all_runs"]}))
    return 0 if all(result["targets_all_runs"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
