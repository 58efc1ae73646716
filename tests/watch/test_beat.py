"""Beat sends the fleet watch every CLOUDSYNC_WATCH_INTERVAL seconds; 0 leaves it out."""

from __future__ import annotations

from workers.celery_app import TASK_WATCH, make_celery
from workers.settings import Settings


def test_the_watch_is_on_beat_at_the_interval() -> None:
    app = make_celery("redis://127.0.0.1:1/0", settings=Settings.from_env({}))
    entry = app.conf.beat_schedule["watch-fleet"]
    assert entry["task"] == TASK_WATCH and entry["schedule"] == 300.0
    assert entry["options"]["expires"] == 300.0  # a late tick is dropped, not queued
    env = {"CLOUDSYNC_WATCH_INTERVAL": "30"}
    fast = make_celery("redis://127.0.0.1:1/0", settings=Settings.from_env(env))
    assert fast.conf.beat_schedule["watch-fleet"]["schedule"] == 30.0


def test_zero_turns_the_watch_off() -> None:
    env = {"CLOUDSYNC_WATCH_INTERVAL": "0"}
    app = make_celery("redis://127.0.0.1:1/0", settings=Settings.from_env(env))
    assert "watch-fleet" not in app.conf.beat_schedule
    assert "expire-approvals" in app.conf.beat_schedule
