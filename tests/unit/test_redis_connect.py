"""REDIS_URL's two forms (a server, or Redis Sentinel) reach redis-py and kombu alike."""

from __future__ import annotations

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from workers import redis_connect
from workers.celery_app import make_celery
from workers.settings import Settings

URL = "sentinel://:s3cret@h1:26379,h2:26380,h3/cloudsync/2"


def test_the_sentinel_form_parses() -> None:
    target = redis_connect.parse_sentinel(URL)
    assert target.sentinels == (("h1", 26379), ("h2", 26380), ("h3", 26379))
    assert target.master == "cloudsync" and target.db == 2
    assert target.password == "s3cret" and "s3cret" not in repr(target)
    assert target.sentinel_kwargs() == {}  # the sentinels are asked without the password
    auth = redis_connect.parse_sentinel(URL + "?sentinel_auth=1")
    assert auth.sentinel_kwargs() == {"password": "s3cret"}
    assert redis_connect.parse_sentinel("sentinel://h1/mymaster").db == 0


@pytest.mark.parametrize(
    "bad",
    [
        "sentinel://:s3cret@h1:26379",  # no master name
        "sentinel://:s3cret@/cloudsync/0",  # no sentinel
        "sentinel://:s3cret@h1:x/cloudsync/0",
        "sentinel://:s3cret@h1/cloudsync/zero",
        "http://:s3cret@h1/0",
    ],
)
def test_a_bad_url_is_refused_at_startup_without_showing_it(bad: str) -> None:
    with pytest.raises(ValueError) as refused:
        Settings.from_env({"REDIS_URL": bad})
    assert "REDIS_URL" in str(refused.value) and "s3cret" not in str(refused.value)


def test_plain_urls_pass_through() -> None:
    url = "redis://127.0.0.1:6390/1"
    assert redis_connect.validate_url(url) == url
    assert redis_connect.broker_url(url) == url
    assert redis_connect.broker_transport_options(url) == {}
    client = redis_connect.connect(url)
    assert client.connection_pool.connection_kwargs["port"] == 6390
    fast = redis_connect.like(client, socket_timeout=0.3)
    assert fast.connection_pool.connection_kwargs["socket_timeout"] == 0.3
    assert fast.connection_pool.connection_kwargs["port"] == 6390


def test_kombu_gets_its_own_spelling() -> None:
    assert redis_connect.broker_url(URL) == (
        "sentinel://:s3cret@h1:26379/2;sentinel://:s3cret@h2:26380/2;sentinel://:s3cret@h3:26379/2"
    )
    app = make_celery(URL, settings=Settings.from_env({}))
    options = app.conf.broker_transport_options
    assert options["master_name"] == "cloudsync" and "visibility_timeout" in options
    with app.connection_for_write() as connection:
        assert connection.transport_cls == "sentinel"
        hosts = [u.split("@")[-1] for u in connection.alt]
        assert hosts == ["h1:26379/2", "h2:26380/2", "h3:26379/2"]


def test_redis_py_gets_a_sentinel_managed_client() -> None:
    client = redis_connect.connect(URL, socket_timeout=1.0)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "cloudsync"
    assert pool.connection_kwargs["db"] == 2 and pool.connection_kwargs["password"] == "s3cret"
    hosts = [(c.connection_pool.connection_kwargs["host"]) for c in pool.sentinel_manager.sentinels]
    assert hosts == ["h1", "h2", "h3"]
    fast = redis_connect.like(client, socket_timeout=0.3)  # the replay guard's short timeout
    assert isinstance(fast.connection_pool, SentinelConnectionPool)
    assert fast.connection_pool.connection_kwargs["socket_timeout"] == 0.3
    assert isinstance(fast, redis.Redis)
