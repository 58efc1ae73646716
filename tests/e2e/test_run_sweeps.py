"""The one-process ``cloudsync run`` *with* Slack tokens (here Socket Mode against the loopback
Slack stand-in) and its own local workers: it has no beat service, so its first local worker
runs beat, and the periodic sweeps happen (a fleet watch round every CLOUDSYNC_WATCH_INTERVAL
seconds, as the schedule file in the data folder records); the other workers run no beat."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.local.bot import workspace_channels
from bot.local.child_process import ends_with_parent
from bot.local.redis_embedded import EmbeddedRedis
from simulator.slack_api import LoopbackSlack
from tests.e2e.harness import WORKER_ENV, make_config_dir
from tests.support import eventually
from workers import redis_connect
from workers.domain.config import REPO_ROOT, load_config
from workers.watch.store import WatchStore

APP_TOKEN = "xapp-1-A01CLOUDSYNC-1-sweeps-e2e"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _worker_commands(bot_pid: int) -> list[str]:
    """The command lines of the bot's local Celery workers (``bot.cli worker``)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            line = " ".join(a.decode(errors="replace") for a in argv)
            if "bot.cli worker" in line and f"-{bot_pid}@" in line:
                found.append(line)
    return found


def test_run_with_tokens_schedules_the_sweeps_once(tmp_path: Path) -> None:
    config_dir = make_config_dir(tmp_path / "config")
    config = load_config(config_dir)
    redis_server = EmbeddedRedis(appendonly=False).start()
    slack = LoopbackSlack(member_of=workspace_channels(config))
    slack.add_app_token(APP_TOKEN)
    slack.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CLOUDSYNC_"))}
    env.update(
        WORKER_ENV,
        PYTHONPATH=str(REPO_ROOT),
        REDIS_URL=redis_server.url,
        CLOUDSYNC_CONFIG=str(config_dir),
        CLOUDSYNC_DATA_DIR=str(tmp_path / "data"),
        CLOUDSYNC_METRICS_PORT="0",
        CLOUDSYNC_WATCH_INTERVAL="2",
        SLACK_API_URL=slack.api_url,
        SLACK_BOT_TOKEN="xoxb-sweeps-e2e",
        SLACK_APP_TOKEN=APP_TOKEN,
    )
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--workers", "2", "--concurrency", "1"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=ends_with_parent(),
        )
    watch = WatchStore(redis_connect.connect(redis_server.url), "cs")
    try:
        first = eventually(
            lambda: bot.poll() is None and watch.hosts().get("SYNC01"),
            what="a first fleet watch round sent by beat",
            timeout=90,
            interval=0.2,
        )
        eventually(
            lambda: (s := watch.hosts().get("SYNC01")) and s.last_read > first.last_read,
            what="the next round, an interval later",
            timeout=30,
            interval=0.2,
        )
        # distinct command lines: a worker's pool children and its beat process share its own
        workers = sorted(set(_worker_commands(bot.pid)))
        assert len(workers) == 2, workers
        assert [("--beat" in w) for w in workers] == [True, False], workers  # one scheduler
        assert list((tmp_path / "data").glob("celerybeat-schedule*")), "beat's schedule file"
    finally:
        _stop(bot)
        slack.stop()
        redis_server.stop()
    assert "Traceback" not in log.read_text(errors="replace")
