"""The real stack for end-to-end tests: Bolt's HTTP endpoint (signed requests), Redis, a Celery
worker process, the Windows host simulator over WinRM and the loopback Slack server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import redis
import requests
import yaml

from bot.http_guard import slack_wsgi
from bot.local import payloads
from bot.local.bot import LocalBot
from bot.local.signing import signed_headers
from bot.local.stack import LocalStack
from tests.e2e.repr_scan import WATCH
from tests.support import eventually
from workers import redis_connect
from workers.domain.config import REPO_ROOT, load_config
from workers.domain.model import Request, State
from workers.settings import Settings

DEMO = REPO_ROOT / "config" / "demo"
USERS = {"alice": "U01ALICE", "bob": "U02BOB", "carol": "U03CAROL", "mallory": "U09MALLORY"}
CHANNEL = "C01OPS"
WORKER_ENV = {
    "CLOUDSYNC_LEASE_TTL": "3",
    "CLOUDSYNC_HOST_WAIT": "1",
    "CLOUDSYNC_BACKOFF_SCALE": "0.01",
    "CLOUDSYNC_LOG_FORMAT": "json",
}
EXTRA_HOSTS: dict[str, Any] = {
    "SLOW01": {"simulated": True, "sim": {"install_s": 3.0}},
    "CANCEL01": {
        "simulated": True,
        "sim": {"install_s": 12.0},  # far past the cancel watch's poll and a WinRM receive
    },  # test_card_truth cancels its install
    "RETRY01": {"simulated": True},  # test_card_truth: a retry's card drops the old failure
    "DRIFT01": {"simulated": True},  # test_card_truth: the server changes after the approval
    "TWIN01": {"simulated": True},
    "TWIN02": {"simulated": True},
    # a hardened host: PowerShell Module Logging (4103) and Script Block Logging (4104) on
    "SECRET01": {"simulated": True, "sim": {"module_logging": True, "script_block_logging": True}},
    "FLAKY01": {"simulated": True, "sim": {"installer_exit_codes": [1618, 0]}},
    "LAB01": {"simulated": True, "tags": ["lab"]},
    "LOG01": {"simulated": True},  # test_logs installs it (no other test does)
    "TRACE01": {"simulated": True},  # test_support_logs plants its traces (no other test uses it)
    # share staging with the share credential, on a hardened host (the secret scan reads it)
    "SHARE02": {
        "simulated": True,
        "installer_source": "share",
        "sim": {"module_logging": True, "script_block_logging": True},
    },
    # share staging in a tenant whose installer entry has no share credential (the second hop)
    "NOCRED01": {"simulated": True, "tenant": "nocred"},
    # test_proxy: an agent already in place (no other test changes it)
    "PROXY01": {
        "simulated": True,
        "sim": {"agent_installed": {"domains": ["contoso.com"], "gmsa": "CONTOSO\\pGMSA_e2e$"}},
    },
}


def _nocred_tenant(contoso: dict[str, Any]) -> dict[str, Any]:
    """The demo tenant, staging from the share without a share credential."""
    installer = {k: v for k, v in contoso["installer"].items() if k != "share_credential"}
    return {**contoso, "installer": {**installer, "source": "share"}}


def make_config_dir(target: Path, mutate: Callable[[dict, dict], None] | None = None) -> Path:
    """A copy of the demo configuration with the extra test hosts (and any tweaks)."""
    shutil.copytree(DEMO, target)
    inventory = yaml.safe_load((target / "inventory.yaml").read_text())
    inventory["hosts"].update(EXTRA_HOSTS)
    inventory["tenants"]["nocred"] = _nocred_tenant(inventory["tenants"]["contoso"])
    policy = yaml.safe_load((target / "policy.yaml").read_text())
    policy["users"]["U09MALLORY"] = "mallory"
    if mutate is not None:
        mutate(inventory, policy)
    (target / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    (target / "policy.yaml").write_text(yaml.safe_dump(policy))
    return target


def start_stack(
    workdir: Path,
    mutate: Callable[[dict, dict], None] | None = None,
    prepare: Callable[[Path], None] | None = None,
) -> E2EStack:
    """A stack of its own on a tweaked copy of the demo configuration (``prepare`` may edit the
    copied folder, e.g. a secret file); CLOUDSYNC_CONFIG is put back for the shared stack."""
    config_dir = make_config_dir(workdir / "config", mutate)
    if prepare is not None:
        prepare(config_dir)
    saved = os.environ.get("CLOUDSYNC_CONFIG")
    try:
        return E2EStack(workdir, config_dir).start()
    finally:
        if saved is None:
            os.environ.pop("CLOUDSYNC_CONFIG", None)
        else:
            os.environ["CLOUDSYNC_CONFIG"] = saved


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class E2EStack:
    def __init__(
        self,
        workdir: Path,
        config_dir: Path,
        *,
        concurrency: int = 2,
        notifier_rate: float = 20.0,
        slack_member_of: set[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """``slack_member_of``: the channels the bot was invited to (default: every configured
        one)."""
        self.config = load_config(config_dir)
        self.settings = Settings.from_env(
            {
                "CLOUDSYNC_DATA_DIR": str(workdir / "data"),
                "CLOUDSYNC_LOG_FORMAT": "json",
                **(env or {}),  # e.g. REDIS_URL of a Sentinel group instead of an embedded Redis
            }
        )
        self.worker_log = workdir / "worker.log"
        stack = LocalStack(
            self.config,
            self.settings,
            persist=True,
            concurrency=concurrency,
            startup_cost_s=0.02,
            extra_env=WORKER_ENV,
        )
        self.local = LocalBot(
            self.config,
            self.settings,
            stack=stack,
            notifier_options={
                "per_channel_rate": notifier_rate,
                "min_update_interval_s": 0.2,
                "blocked_retry_s": 0.5,
            },
            worker_log=self.worker_log,
            slack_member_of=slack_member_of,
        )
        WATCH.watch(self.local.slack)  # no Python repr in any payload (tests/e2e/conftest.py)
        self.http: Any = None
        self.url = ""
        self.monitor_lines: list[str] = []
        self._monitor_stop = threading.Event()

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> E2EStack:
        self.local.start()
        handler = slack_wsgi(self.local.app, self.local.signing_secret)  # as HTTP mode serves
        self.http = make_server(
            "127.0.0.1", 0, handler, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_port}/slack/events"
        threading.Thread(target=self._monitor, daemon=True).start()
        return self

    def stop(self) -> None:
        self._monitor_stop.set()
        if self.http is not None:
            self.http.shutdown()
        self.local.stop()

    def _monitor(self) -> None:
        """Every command any process sends to Redis (Celery messages included), for the
        secret scan."""
        while not self._monitor_stop.is_set():
            client = redis_connect.connect(self.redis_url)
            try:
                with client.monitor() as monitor:
                    for command in monitor.listen():
                        self.monitor_lines.append(str(command.get("command", "")))
                        if self._monitor_stop.is_set():
                            return
            except redis.RedisError:  # Redis restarted (a fault test): watch the new one
                self._monitor_stop.wait(0.05)
            finally:
                client.close()

    # accessors ---------------------------------------------------------------------------
    @property
    def redis_url(self) -> str:
        return self.local.stack.redis_url

    @property
    def slack(self) -> Any:
        return self.local.slack

    @property
    def store(self) -> Any:
        return self.local.ctx.store

    def sim_host(self, name: str) -> Any:
        assert self.local.stack.sim is not None
        return self.local.stack.sim.world.hosts[name]

    @property
    def tenant(self) -> Any:
        assert self.local.stack.sim is not None
        return self.local.stack.sim.world.tenant

    # slack requests over HTTP ------------------------------------------------------------
    def post(self, body: str, *, headers: dict[str, str] | None = None) -> requests.Response:
        sent = headers if headers is not None else signed_headers(self.local.signing_secret, body)
        return requests.post(self.url, data=body.encode(), headers=sent, timeout=10)

    def slash(self, user: str, text: str, channel: str = CHANNEL) -> requests.Response:
        uid = USERS.get(user, user)
        return self.post(
            payloads.slash_command(
                user_id=uid,
                user_name=user,
                channel_id=channel,
                channel_name="ops",
                text=text,
                response_url=self.slack.response_url(f"{uid}-{time.time()}"),
            )
        )

    def click(
        self, user: str, action_id: str, request_id: str, channel: str = CHANNEL
    ) -> requests.Response:
        uid = USERS.get(user, user)
        return self.post(
            payloads.button_click(
                user_id=uid,
                user_name=user,
                channel_id=channel,
                channel_name="ops",
                action_id=action_id,
                value=request_id,
                response_url=self.slack.response_url(f"{uid}-{time.time()}"),
            )
        )

    def click_home(self, user: str, action_id: str, request_id: str) -> requests.Response:
        """A button click in the user's App Home (no channel, no response_url)."""
        uid = USERS.get(user, user)
        return self.post(
            payloads.home_click(user_id=uid, user_name=user, action_id=action_id, value=request_id)
        )

    def submit_deny(self, user: str, request_id: str, reason: str) -> requests.Response:
        value = {"type": "plain_text_input", "value": reason}
        return self.post(
            payloads.view_submission(
                user_id=USERS.get(user, user),
                user_name=user,
                callback_id="deny_reason",
                private_metadata=request_id,
                values={"reason": {"reason": value}},
            )
        )

    # waiting -----------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
        return eventually(predicate, timeout=timeout, interval=0.05, what=what or str(predicate))

    def latest_request(self, requester: str) -> Request:
        return self.wait_for(
            lambda: next(iter(self.store.recent_of_user(USERS[requester], limit=1)), None),
            what=f"a request by {requester}",
        )

    def wait_preflight(self, request_id: str, timeout: float = 30.0) -> Request:
        return self.wait_for(
            lambda: (r := self.store.get(request_id)) and r.request_hash and r,
            timeout,
            what=f"preflight of {request_id}",
        )

    def wait_state(self, request_id: str, *states: State, timeout: float = 60.0) -> Request:
        return self.wait_for(
            lambda: (r := self.store.get(request_id)) and r.state in states and r,
            timeout,
            what=f"{request_id} to become {[s.value for s in states]}",
        )

    def wait_quiet(self, timeout: float = 30.0) -> None:
        self.wait_for(lambda: not self.local.busy(include_runs=True), timeout, what="quiet")

    def submit(self, user: str, text: str) -> Request:
        before = {r.id for r in self.store.recent(limit=1000)}
        response = self.slash(user, text)
        assert response.status_code == 200, response.text
        request = self.wait_for(
            lambda: next((r for r in self.store.recent(limit=5) if r.id not in before), None),
            what=f"request from {text!r}",
        )
        return self.wait_preflight(request.id)

    def ephemerals_for(self, user: str) -> list[str]:
        """Texts shown only to ``user`` (response_url posts and chat.postEphemeral)."""
        uid = USERS.get(user, user)
        out = []
        for call in list(self.slack.calls):
            if call.method == "response_url" and str(call.args.get("name", "")).startswith(uid):
                out.append(str(call.args.get("text", "")))
            if call.method == "chat.postEphemeral" and call.args.get("user") == uid:
                out.append(str(call.args.get("text", "")))
        return out

    # worker control ----------------------------------------------------------------------
    def kill_workers(self) -> None:
        self.local.stack.supervising = False  # the test restarts one itself
        for proc in self.local.stack.workers:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        self.local.stack.workers = []

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = self.local.stack.spawn_worker(len(self.local.stack.workers))
        self.local.stack.workers.append(proc)
        self.local.stack.supervising = True
        return proc
