"""The fleet watch in the local console: the real ``cloudsync run`` (no Slack tokens) with its stdin
from a pipe. ``:watch`` runs one round through the Celery worker and WinRM to the simulated
hosts; ``:sim stop-agent`` stops a simulated agent as a crash would. The first round is the quiet
baseline, the stop is posted once after it held for two reads, and a further round adds nothing;
``/cloudsync watch status`` shows what the rounds read. Without ``:watch`` the console sends the
round on its interval, as the deployment's beat does."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from bot.local.console import Console
from bot.local.fleet_watch import FIRST_ROUND_S
from tests.e2e.harness import make_config_dir
from tests.support import eventually
from workers.domain.config import REPO_ROOT, load_config
from workers.settings import Settings
from workers.watch.store import WatchStore

HOSTS = ("WATCH01", "WATCH02", "WATCH03")  # three agents: one stopped leaves the tenant's 2
SCRIPT = """\
:watch
:sim stop-agent WATCH01
:watch
:watch
:watch
/cloudsync watch status
"""


def _three_agents(inventory: dict, policy: dict) -> None:  # type: ignore[type-arg]
    installed = {"agent_installed": {"gmsa": "contoso\\pGMSA_watch$"}}
    inventory["hosts"] = {h: {"simulated": True, "sim": dict(installed)} for h in HOSTS}


def run_console(
    config_dir: Path, data_dir: Path, script: str = SCRIPT
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDSYNC_", "REDIS_", "VAULT_"))
    }
    env.update(
        {
            "CLOUDSYNC_DATA_DIR": str(data_dir),
            "CLOUDSYNC_CONFIG": str(config_dir),
            "CLOUDSYNC_LOG_FORMAT": "text",
            "CLOUDSYNC_WATCH_INTERVAL": "0",  # only the script's rounds: the baseline is known
        }
    )
    cloudsync = Path(sys.executable).parent / "cloudsync"
    return subprocess.run(
        [str(cloudsync), "run"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=150,
    )


def test_console_watch_posts_a_stopped_agent_once(tmp_path: Path) -> None:
    config_dir = make_config_dir(tmp_path / "config", _three_agents)
    done = run_console(config_dir, tmp_path / "data")
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(simulator: the agent service on WATCH01 is Stopped now)" in out

    rounds = re.findall(r"^\(watch round: .*\)$", out, flags=re.M)
    assert len(rounds) == 4, out[-3000:]
    assert rounds[0].startswith("(watch round: read 3 host(s): 3 agent Running;")
    assert "posted nothing" in rounds[0]  # the baseline
    assert "2 agent Running, 1 agent Stopped" in rounds[1] and "posted nothing" in rounds[1]
    assert "posted 1 notice(s) to #ops" in rounds[2]  # held for two reads
    assert "posted nothing" in rounds[3]  # told once

    assert out.count("#ops cloudsync [") == 1, out[-3000:]  # the one post of the session
    notices = [line for line in out.splitlines() if "*WATCH01* stopped" in line]
    assert len(notices) == 1, out[-3000:]
    between = out.split(rounds[1], 1)[1].split(rounds[2], 1)[0]
    assert "*WATCH01* stopped" in between  # posted in the third round, before its line
    assert "posted nothing (no change)" in rounds[3]

    status = out.split("/cloudsync watch status", 1)[1]
    assert "WATCH01" in status and "WATCH02: agent Running" in status


def test_the_console_runs_the_watch_on_its_interval(tmp_path: Path) -> None:
    """Without ``:watch``: the console's housekeeping sends the round as beat would, the first
    shortly after start, then every CLOUDSYNC_WATCH_INTERVAL seconds."""
    config = load_config(make_config_dir(tmp_path / "config", _three_agents))
    settings = Settings.from_env(
        {"CLOUDSYNC_DATA_DIR": str(tmp_path / "data"), "CLOUDSYNC_WATCH_INTERVAL": "3"}
    )
    console = Console(config, settings, out=io.StringIO()).start()
    try:
        watch = WatchStore(console.local.ctx.redis, settings.prefix)
        first = eventually(
            lambda: len(watch.hosts()) == len(HOSTS) and watch.hosts(),
            what="the first scheduled round",
            timeout=FIRST_ROUND_S + 30,
        )
        read = max(s.last_read for s in first.values())
        eventually(
            lambda: min(s.last_read for s in watch.hosts().values()) > read,
            what="the next round, an interval later",
            timeout=30,
        )
    finally:
        console.stop()
