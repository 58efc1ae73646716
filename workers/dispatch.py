"""Handing work to Celery by task name: the bot never imports the task code, and task messages
carry ids and names only (never a secret, a script or a request body). Every task send, the
bot's and the workers', goes through ``CeleryDispatcher``."""

from __future__ import annotations

import logging
import uuid

import redis
from celery import Celery

from workers import redis_connect
from workers.celery_app import (
    TASK_CHECK,
    TASK_FLEET,
    TASK_LOGS,
    TASK_PREFLIGHT,
    TASK_RECOVER,
    TASK_RUN,
    TASK_WATCH,
    make_celery,
)

log = logging.getLogger(__name__)


def busy_key(prefix: str) -> str:
    """A set of tokens of read-only tasks (check, agents) not yet answered: the console waits."""
    return f"{prefix}:busy-tasks"


class CeleryDispatcher:
    def __init__(
        self,
        redis_url: str,
        prefix: str = "cs",
        celery: Celery | None = None,
        client: redis.Redis | None = None,
    ) -> None:
        self.celery = celery or make_celery(redis_url)
        self.redis = client if client is not None else redis_connect.connect(redis_url)
        self.prefix = prefix

    def warm(self) -> None:
        """Connect to the broker and declare the task queue now. The first task a process sends
        otherwise pays for it (and for loading Celery's result-backend code): 10-40 ms on the
        path from an Approve click to the first step."""
        try:
            _ = self.celery.backend
            with self.celery.producer_or_acquire() as producer:
                producer.connection.ensure_connection(max_retries=1)
                for queue in self.celery.amqp.queues.values():
                    producer.maybe_declare(queue)
        except Exception as exc:  # the broker may come up later: sending will connect then
            log.warning("could not warm the broker connection: %s", type(exc).__name__)

    def preflight(self, request_id: str) -> None:
        self.celery.send_task(TASK_PREFLIGHT, args=[request_id])

    def run(self, request_id: str, countdown: float | None = None) -> None:
        self.celery.send_task(TASK_RUN, args=[request_id], countdown=countdown)

    def recover(self, countdown: float | None = None) -> None:
        """Look for stalled runs again (after ``countdown`` seconds: once leases could lapse)."""
        self.celery.send_task(TASK_RECOVER, countdown=countdown)

    def _token(self) -> str:
        token = uuid.uuid4().hex
        self.redis.sadd(busy_key(self.prefix), token)
        self.redis.expire(busy_key(self.prefix), 3600)
        return token

    def check(self, host: str, channel: str, user: str) -> None:
        self.celery.send_task(TASK_CHECK, args=[host, channel, user, self._token()])

    def fleet(self, channel: str, user: str) -> None:
        self.celery.send_task(TASK_FLEET, args=[channel, user, self._token()])

    def watch(self, expires: float | None = None) -> None:
        """One fleet watch round now (beat sends the same task on its interval, with
        ``expires``: a round not started by then is dropped)."""
        self.celery.send_task(TASK_WATCH, expires=expires)

    def logs(self, host: str, since_s: int, channel: str, user: str) -> None:
        self.celery.send_task(TASK_LOGS, args=[host, since_s, channel, user, self._token()])
