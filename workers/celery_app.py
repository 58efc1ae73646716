"""The Celery application: Redis broker, late acknowledgement, one task at a time per process.

Task messages carry request ids only (never a secret or a script). A task is acknowledged after
it finishes and is requeued when its worker dies (``acks_late`` + ``reject_on_worker_lost``); the
runbook's step checks and fenced leases make the second delivery resume instead of repeating.
"""

from __future__ import annotations

from celery import Celery

from workers import redis_connect
from workers.settings import Settings

TASK_RUN = "cloudsync.run_request"
TASK_PREFLIGHT = "cloudsync.preflight_request"
TASK_CHECK = "cloudsync.check_host"
TASK_FLEET = "cloudsync.fleet"
TASK_EXPIRE = "cloudsync.expire_approvals"
TASK_RECOVER = "cloudsync.recover"
TASK_WATCH = "cloudsync.watch_fleet"
TASK_LOGS = "cloudsync.collect_logs"

QUEUE = "cloudsync"


def make_celery(
    redis_url: str | None = None, *, current: bool = False, settings: Settings | None = None
) -> Celery:
    """The worker's app (``current``) or a sending-only app for a dispatcher, which must not
    replace the worker's current app (a worker whose current app changed cannot reconnect)."""
    settings = settings or Settings.from_env()
    url = redis_url or settings.broker_url
    # a Sentinel REDIS_URL becomes kombu's sentinel list plus its master_name option
    app = Celery(
        "cloudsync",
        broker=redis_connect.broker_url(url),
        include=["workers.tasks"],
        set_as_current=current,
    )
    visibility = settings.visibility_timeout_s
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility,
            "socket_keepalive": True,
            "retry_on_timeout": True,
            **redis_connect.broker_transport_options(url),
        },
        beat_schedule={
            "expire-approvals": {"task": TASK_EXPIRE, "schedule": 30.0},
            "recover-stalled": {"task": TASK_RECOVER, "schedule": 60.0},
            **_watch_schedule(settings),
        },
    )
    return app


def _watch_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    """The fleet watch's beat entry, every CLOUDSYNC_WATCH_INTERVAL seconds (0: no watch). A
    round that would still run at the next tick is dropped by the task's expiry, not queued."""
    interval = settings.watch_interval_s
    if interval <= 0:
        return {}
    return {
        "watch-fleet": {
            "task": TASK_WATCH,
            "schedule": interval,
            "options": {"expires": max(1.0, interval)},
        }
    }


app = make_celery(current=True)
