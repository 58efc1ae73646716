"""Thin Celery tasks: load, call the engine, save. Arguments are ids and names only.

Every task is safe to run twice: the engine's transitions are atomic and check the state, and
the runbook resumes by its step checks under fenced leases.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

from celery.signals import (
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from workers.celery_app import (
    TASK_CHECK,
    TASK_EXPIRE,
    TASK_FLEET,
    TASK_LOGS,
    TASK_PREFLIGHT,
    TASK_RECOVER,
    TASK_RUN,
    TASK_WATCH,
    app,
)
from workers.engine import Engine
from workers.logging_setup import log_context, request_context
from workers.settings import Settings

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def engine() -> Engine:
    return Engine.from_env()


@app.task(name=TASK_PREFLIGHT)
def preflight_request(request_id: str) -> None:
    with request_context(request_id):
        engine().preflight(request_id)


@app.task(name=TASK_RUN)
def run_request(request_id: str) -> None:
    with request_context(request_id):
        engine().run(request_id)


@app.task(name=TASK_CHECK)
def check_host(host: str, channel: str, user: str, token: str = "") -> None:
    with log_context(host=host):
        engine().check(host, channel, user, token)


@app.task(name=TASK_FLEET)
def fleet(channel: str, user: str, token: str = "") -> None:
    engine().fleet(channel, user, token)


@app.task(name=TASK_LOGS)
def collect_logs(host: str, since_s: int, channel: str, user: str, token: str = "") -> None:
    with log_context(host=host):
        engine().logs(host, since_s, channel, user, token)


@app.task(name=TASK_EXPIRE)
def expire_approvals() -> None:
    """Also trims the audit stream by age: the same 30 s sweep, one cheap XTRIM."""
    engine().service.expire_due()
    engine().store.trim_events(engine().settings.audit_retention_days)


@app.task(name=TASK_RECOVER)
def recover() -> None:
    engine().recover()


@app.task(name=TASK_WATCH)
def watch_fleet() -> None:
    """The fleet watch's beat tick: one read of every watched host (workers.watch)."""
    engine().watch()


@worker_ready.connect
def _on_worker_ready(sender: object = None, **_: object) -> None:
    """A restarted worker picks up runs whose worker died (their leases have lapsed)."""
    try:
        engine().recover()
        engine().mark_ready()
    except Exception:
        log.exception("recovery at worker start failed")
    from workers.metrics import start_endpoint

    start_endpoint(engine(), consumer=sender)  # the consumer: its broker connection, beat


@worker_init.connect
def _on_worker_init(**_: object) -> None:
    """Before the pool forks: the multiprocess metrics folder the children will write to."""
    from workers.metrics import prepare

    prepare(Settings.from_env())


@worker_shutdown.connect
def _on_worker_shutdown(**_: object) -> None:
    from workers.metrics import remove_multiprocess_folder

    remove_multiprocess_folder()


@worker_process_init.connect
def _on_child_start(**_: object) -> None:
    """Each pool process builds its engine (configuration, Redis clients, pywinrm and the
    runbook modules) as it starts, not when the first approved request arrives."""
    try:
        engine()
    except Exception:
        log.exception("engine warm-up failed; the first task will build it")


@worker_process_shutdown.connect
def _on_child_exit(pid: int | None = None, **_: object) -> None:
    from workers.metrics import child_exited

    child_exited(pid or os.getpid())
