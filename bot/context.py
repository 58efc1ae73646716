"""Everything a listener needs, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from bot.reads import ReadLimits
from workers import redis_connect
from workers.dispatch import CeleryDispatcher
from workers.domain.config import Config
from workers.domain.service import RequestService
from workers.domain.store import RequestStore
from workers.notify.outbox import Outbox


@dataclass
class BotContext:
    config: Config
    redis: redis.Redis
    store: RequestStore
    service: RequestService
    outbox: Outbox
    dispatcher: CeleryDispatcher
    read_limits: ReadLimits = field(default_factory=ReadLimits)


def build_context(config: Config, redis_url: str, prefix: str = "cs") -> BotContext:
    client = redis_connect.connect(redis_url)
    store = RequestStore(client, prefix=prefix)
    dispatcher = CeleryDispatcher(redis_url, prefix=prefix, client=client)
    return BotContext(
        config=config,
        redis=client,
        store=store,
        service=RequestService(store, config, dispatcher),
        outbox=Outbox(client, prefix=prefix),
        dispatcher=dispatcher,
    )
