"""``python -m bot.local.rehearsal_scenario --out FILE HOST...``: the scenario file for
``cloudsync sim --scenario FILE`` that serves the configuration's simulated hosts with exactly
the accounts the bot's secrets resolve to (as the local console does in-process).

A rehearsal of the HTTP path runs the simulator as a process of its own; this file keeps its
passwords off every command line. It holds the configuration's (demo) passwords, so it is
written readable by its owner only.
"""

from __future__ import annotations

import argparse
import os
import sys

import yaml

from bot.local.sim_world import simulated_world
from workers.domain.config import ConfigError, load_config
from workers.domain.secrets import SecretsProvider
from workers.settings import Settings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.local.rehearsal_scenario")
    ap.add_argument("--out", required=True, help="the scenario file to write (mode 0600)")
    ap.add_argument("hosts", nargs="+", help="simulated inventory hosts to serve")
    args = ap.parse_args(argv)
    settings = Settings.from_env()
    try:
        config = load_config(settings.config_dir)
    except ConfigError as exc:
        print(f"rehearsal scenario: configuration error: {exc}", file=sys.stderr)
        return 2
    wanted = {h.upper() for h in args.hosts}
    missing = wanted - {n for n, h in config.hosts.items() if h.simulated}
    if missing:
        print(
            "rehearsal scenario: not simulated hosts of the inventory: "
            + ", ".join(sorted(missing)),
            file=sys.stderr,
        )
        return 2
    scenario = simulated_world(config, SecretsProvider(config))
    scenario["hosts"] = [h for h in scenario["hosts"] if h["name"] in wanted]
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(scenario, fh)
    print(f"wrote {args.out} ({', '.join(sorted(wanted))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
