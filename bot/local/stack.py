"""The pieces a machine with no accounts needs: Redis, simulated hosts, Celery workers.

``cloudsync run`` (no Slack tokens), ``cloudsync console``, the end-to-end tests and the
benchmarks assemble the same real stack: an embedded redis-server (unless REDIS_URL is set), the
Windows host simulator for every inventory host marked ``simulated``, and real Celery worker
processes that reach those hosts over WinRM.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bot.local.child_process import ends_with_parent
from bot.local.redis_embedded import EmbeddedRedis
from workers import redis_connect
from workers.domain.config import Config
from workers.domain.secrets import SecretsProvider
from workers.settings import Settings, format_endpoints

if TYPE_CHECKING:
    from simulator.server import SimCluster

log = logging.getLogger(__name__)
SIM_STATE_FILE = "simulated-hosts.json"


class LocalStack:
    def __init__(
        self,
        config: Config,
        settings: Settings,
        *,
        persist: bool = True,
        workers: int = 1,
        concurrency: int = 2,
        startup_cost_s: float | None = None,
        extra_env: dict[str, str] | None = None,
        beat: bool = False,
    ) -> None:
        """``beat``: the first worker also runs Celery beat (``cloudsync worker --beat``), for a
        one-process ``cloudsync run`` that has no beat service of its own."""
        self.config = config
        self.beat = beat
        self.settings = settings
        self.persist = persist
        self.worker_count = workers
        self.concurrency = concurrency
        self.startup_cost_s = startup_cost_s
        self.extra_env = dict(extra_env or {})
        self.redis_server: EmbeddedRedis | None = None
        self.redis_url = settings.redis_url or ""
        self.sim: SimCluster | None = None
        # with ``persist``: the simulated hosts' state, kept across restarts like the requests
        self.sim_state_path = settings.data_dir / SIM_STATE_FILE
        self.sim_restored: list[str] = []  # hosts found again from the last run
        self.sim_fresh: list[str] = []  # hosts started fresh although a state was saved
        self.sim_state_found = False
        self._saved_sim: str | None = None  # the state last written (unchanged: not rewritten)
        self._save_lock = threading.Lock()
        self.endpoints: dict[str, str] = {}
        self.workers: list[subprocess.Popen[bytes]] = []
        self.worker_log: Path | None = None
        self.supervising = False
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()

    # redis -------------------------------------------------------------------------------
    def start_redis(self) -> str:
        if self.settings.redis_url:
            self.redis_url = self.settings.redis_url
            return self.redis_url
        data = self.settings.data_dir / "redis" if self.persist else None
        self.redis_server = EmbeddedRedis(data, appendonly=self.persist).start()
        self.redis_url = self.redis_server.url
        if data is not None:  # lets `cloudsync audit` find the running embedded Redis
            (data / "url").write_text(self.redis_url)
        return self.redis_url

    # simulator ---------------------------------------------------------------------------
    def start_simulator(self) -> dict[str, str]:
        simulated = [h for h in self.config.hosts.values() if h.simulated]
        if not simulated:
            return {}
        from bot.local.extras import require_simulator

        require_simulator(f"{len(simulated)} inventory host(s) are marked simulated")
        from bot.local.sim_world import simulated_world
        from simulator.server import SimCluster

        scenario = simulated_world(
            self.config, SecretsProvider(self.config), startup_cost_s=self.startup_cost_s
        )
        self.sim = SimCluster.from_scenario(scenario)
        if self.persist:
            self._restore_sim(self.sim)
        self.sim.start()
        self.endpoints = {name: f"127.0.0.1:{srv.port}" for name, srv in self.sim.servers.items()}
        return self.endpoints

    def _restore_sim(self, sim: SimCluster) -> None:
        from simulator.world import restore_world

        try:
            state = json.loads(self.sim_state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("simulated hosts start fresh: %s unreadable (%s)", self.sim_state_path, exc)
            return
        self.sim_state_found = True
        self.sim_restored, self.sim_fresh = restore_world(sim.world, state)

    def save_sim(self) -> bool:
        """Write the simulated hosts' state to the data folder when it changed since the last
        save (a temporary file renamed over the old one, so a kill mid-write leaves the previous
        state whole); True when written. Called at stop and by the local bot's housekeeping, so
        a killed stack loses at most the last few seconds."""
        if self.sim is None or not self.persist:
            return False
        from simulator.world import world_state

        with self._save_lock:
            text = json.dumps(world_state(self.sim.world), sort_keys=True)
            if text == self._saved_sim:
                return False
            self.sim_state_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.sim_state_path.with_name(self.sim_state_path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(self.sim_state_path)
            self._saved_sim = text
            return True

    # workers -----------------------------------------------------------------------------
    def worker_env(self) -> dict[str, str]:
        env = dict(os.environ)  # passed on (PATH, secret references), not read here
        env.update(self.extra_env)
        env["REDIS_URL"] = self.redis_url
        # local workers share this machine with the bot's metrics port
        env["CLOUDSYNC_METRICS_PORT"] = self.extra_env.get("CLOUDSYNC_METRICS_PORT", "0")
        env["CLOUDSYNC_CONFIG"] = str(self.config.folder)
        if self.endpoints:
            env["CLOUDSYNC_SIM_ENDPOINTS"] = format_endpoints(self.endpoints)
        return env

    def start_workers(self, log_path: Path | None = None) -> None:
        self.worker_log = log_path
        redis_connect.connect(self.redis_url).delete(f"{self.settings.prefix}:workers-ready")
        for index in range(self.worker_count):
            self.workers.append(self.spawn_worker(index))
        self.supervising = True
        if self._supervisor is None:
            self._supervisor = threading.Thread(
                target=self._supervise, name="worker-supervisor", daemon=True
            )
            self._supervisor.start()

    def _supervise(self) -> None:
        """Restart a worker process that exited on its own, as a process manager would: Celery's
        worker gives up ("Unrecoverable error") when the broker vanishes while a late-acked task
        is running (a kombu limitation), and a restarted worker recovers the interrupted runs."""
        while not self._stopping.wait(0.5):
            if not self.supervising:
                continue
            for index, proc in enumerate(list(self.workers)):
                if proc.poll() is not None and self.supervising:
                    log.warning("worker %d exited with %s; restarting it", index, proc.returncode)
                    self.workers[index] = self.spawn_worker(index)

    def spawn_worker(self, index: int = 0) -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable,
            "-m",
            "bot.cli",
            "worker",
            "--concurrency",
            str(self.concurrency),
            "--name",
            f"w{index}-{os.getpid()}@%h",
        ]
        if self.beat and index == 0:  # one scheduler: a restarted first worker takes it over
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            cmd.append("--beat")
        out = open(self.worker_log, "ab") if self.worker_log else subprocess.DEVNULL  # noqa: SIM115
        return subprocess.Popen(
            cmd,
            env=self.worker_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=ends_with_parent(),
        )

    def wait_workers_ready(self, timeout: float = 60.0) -> None:
        """Until a worker consumes from the queue (its ``ready`` key is set at start)."""
        client = redis_connect.connect(self.redis_url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if client.exists(f"{self.settings.prefix}:workers-ready"):
                return
            for proc in self.workers:
                if proc.poll() is not None:
                    raise RuntimeError(f"a Celery worker exited with {proc.returncode}")
            time.sleep(0.1)
        raise RuntimeError("the Celery worker did not become ready in time")

    def stop_workers(self) -> None:
        self.supervising = False
        for proc in self.workers:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.workers = []

    def start(self) -> LocalStack:
        self.start_redis()
        self.start_simulator()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.stop_workers()
        if self.sim is not None:
            try:
                self.save_sim()
            except OSError as exc:  # a full disk must not stop the shutdown
                log.warning("could not save the simulated hosts' state: %s", exc)
            self.sim.stop()
            self.sim = None
        if self.redis_server is not None:
            if self.redis_server.data_dir is not None:
                (self.redis_server.data_dir / "url").unlink(missing_ok=True)
            self.redis_server.stop()
            self.redis_server = None
