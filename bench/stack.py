"""The benchmarked stack: embedded Redis, simulated hosts and a Celery worker (LocalStack), the
loopback Slack Web API, and the bot served as in production (``cloudsync serve --http``, gunicorn
gthread) as a subprocess; plus the minimal Bolt baseline, served the same way."""

from __future__ import annotations

import os
import secrets as pysecrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bot.local import payloads
from bot.local.bot import workspace_channels
from bot.local.child_process import ends_with_parent
from bot.local.redis_embedded import free_port
from bot.local.signing import signed_headers
from bot.local.stack import LocalStack
from simulator.slack_api import LoopbackSlack
from workers.domain.config import REPO_ROOT, Config, load_config, with_endpoints
from workers.settings import Settings

USERS = {"alice": "U01ALICE", "bob": "U02BOB"}
CHANNEL = "C01OPS"


def make_config(
    target: Path, hosts: dict[str, dict[str, Any]], tenants: tuple[str, ...] = ()
) -> Path:
    """The demo configuration plus ``hosts``, and ``tenants`` more tenants shaped like the demo's
    (same secrets and domains: the simulator gives each its own registrations)."""
    shutil.copytree(REPO_ROOT / "config" / "demo", target)
    inventory = yaml.safe_load((target / "inventory.yaml").read_text())
    for name in tenants:
        inventory["tenants"][name] = dict(inventory["tenants"]["contoso"])
    inventory["hosts"].update(hosts)
    (target / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    return target


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in time")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


class BenchStack:
    def __init__(
        self,
        workdir: Path,
        hosts: dict[str, dict[str, Any]],
        worker_env: dict[str, str],
        *,
        tenants: tuple[str, ...] = (),
        workers: int = 1,
        concurrency: int = 2,
        redis_url: str | None = None,  # a Sentinel group's (the failover figures); else embedded
    ):
        self.workdir = workdir
        config_dir = make_config(workdir / "config", hosts, tenants)
        self.config: Config = load_config(config_dir)
        self.settings = Settings.from_env(
            {
                "CLOUDSYNC_DATA_DIR": str(workdir / "data"),
                "CLOUDSYNC_LOG_FORMAT": "json",
                **({"REDIS_URL": redis_url} if redis_url else {}),
            }
        )
        self.worker_metrics_port = free_port()
        env = {"CLOUDSYNC_METRICS_PORT": str(self.worker_metrics_port), **worker_env}
        self.local = LocalStack(
            self.config,
            self.settings,
            persist=False,
            workers=workers,
            concurrency=concurrency,
            extra_env=env,
        )
        self.slack = LoopbackSlack(member_of=workspace_channels(self.config))
        self.secret = pysecrets.token_hex(16)
        self.bot_port = free_port()
        self.bot_metrics_port = free_port()
        self.minimal_port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.bot: subprocess.Popen[bytes] | None = None

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.bot_port}/slack/events"

    @property
    def minimal_url(self) -> str:
        return f"http://127.0.0.1:{self.minimal_port}/slack/events"

    def routed_config(self) -> Config:
        return with_endpoints(self.config, self.local.endpoints)

    def _spawn(self, args: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        out = open(self.workdir / log, "ab")  # noqa: SIM115 (the child owns it)
        proc = subprocess.Popen(
            [sys.executable, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(REPO_ROOT),
            preexec_fn=ends_with_parent(),
        )
        self.procs.append(proc)
        return proc

    def start(self) -> BenchStack:
        self.slack.start()
        self.local.start()
        self.local.start_workers(log_path=self.workdir / "worker.log")
        env = dict(os.environ)
        env.update(
            {
                "REDIS_URL": self.local.redis_url,
                "CLOUDSYNC_CONFIG": str(self.config.folder),
                "CLOUDSYNC_DATA_DIR": str(self.workdir / "data"),
                "SLACK_BOT_TOKEN": "xoxb-bench",
                "SLACK_SIGNING_SECRET": self.secret,
                "SLACK_API_URL": self.slack.api_url,
                "CLOUDSYNC_METRICS_PORT": str(self.bot_metrics_port),
                "CLOUDSYNC_METRICS_ADDR": "127.0.0.1",
                "CLOUDSYNC_LOG_FORMAT": "json",
            }
        )
        env.pop("SLACK_APP_TOKEN", None)
        bind = f"127.0.0.1:{self.bot_port}"
        self.bot = self._spawn(["-m", "bot.cli", "serve", "--http", bind], env, "bot.log")
        minimal = self._spawn(
            ["-m", "bench.minimal_app", f"127.0.0.1:{self.minimal_port}"], env, "minimal.log"
        )
        self.local.wait_workers_ready()
        wait_http(f"http://127.0.0.1:{self.bot_port}/healthz", self.bot)
        wait_http(f"http://127.0.0.1:{self.minimal_port}/healthz", minimal)
        wait_http(f"http://127.0.0.1:{self.bot_metrics_port}/healthz", self.bot)
        return self

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)
        self.local.stop()
        self.slack.stop()

    # signed Slack requests -------------------------------------------------------------------
    def slash_body(self, user: str, text: str) -> tuple[bytes, dict[str, str]]:
        uid = USERS.get(user, user)
        body = payloads.slash_command(
            user_id=uid,
            user_name=user,
            channel_id=CHANNEL,
            channel_name="ops",
            text=text,
            response_url=self.slack.response_url(f"{uid}-bench"),
        )
        return body.encode(), signed_headers(self.secret, body)

    def click_body(
        self, user: str, action_id: str, request_id: str
    ) -> tuple[bytes, dict[str, str]]:
        uid = USERS.get(user, user)
        body = payloads.button_click(
            user_id=uid,
            user_name=user,
            channel_id=CHANNEL,
            channel_name="ops",
            action_id=action_id,
            value=request_id,
            response_url=self.slack.response_url(f"{uid}-click"),
        )
        return body.encode(), signed_headers(self.secret, body)

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(self.bot_url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return int(response.status)
