"""Carries every replica's ownership invalidations to this process's memory cache, over Redis pub/sub.

Pub/sub delivers each message to every subscriber connected when it is published, and to nobody
else; a replica therefore trusts its memory only while its subscription is confirmed and its
connection answers. The subscription runs on a client of its own without redis-py's automatic
retries (which would reconnect and resubscribe out of sight, hiding the gap in between). When the
connection fails, or stays silent for `silence_limit` seconds though it is pinged every second,
memory goes dark (emptied, unused) until a new subscription is confirmed.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from entitlement_service.adapters.memory_ownership_cache import MemoryOwnershipCache
from entitlement_service.adapters.redis_ownership_cache import RedisOwnershipCache
from paygrant.runtime import BackgroundService

log = logging.getLogger(__name__)


class RedisInvalidations(BackgroundService):
    """Subscribes to `shared`'s invalidation channel and applies each message another process sent to `memory`.

    `own_messages` counts the messages of this process that came back (and were ignored).
    """

    name = "ownership-invalidations"

    def __init__(
        self,
        redis_url: str,
        shared: RedisOwnershipCache,
        memory: MemoryOwnershipCache,
        ping_interval: float = 1.0,
        silence_limit: float = 3.0,
        retry_interval: float = 1.0,
    ) -> None:
        self._redis_url = redis_url
        self._shared = shared
        self._channel = shared.invalidation_channel
        self._memory = memory
        self._ping_interval = ping_interval
        self._silence_limit = silence_limit
        self._retry_interval = retry_interval
        self.subscribed = asyncio.Event()  # set while memory is live; tests and benchmarks wait on it
        self.own_messages = 0

    async def run(self) -> None:
        """Subscribes, follows, and after a failure goes dark and subscribes again, until cancelled."""
        told = False  # one line per outage, not one per attempt
        while True:
            try:
                await self._follow()
            except (RedisError, OSError) as error:
                if self.subscribed.is_set() or not told:
                    log.warning("ownership invalidations lost, answering without memory: %s", error)
                told = True
            finally:
                self.subscribed.clear()
                self._memory.go_dark()
            await asyncio.sleep(self._retry_interval)  # the pause before reconnecting, not a wait on an event

    async def _follow(self) -> None:
        redis = Redis.from_url(
            self._redis_url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=2.0,
            client_name=self._channel,  # names the connection in CLIENT LIST, for operators (and tests)
        )
        async with redis, redis.pubsub() as pubsub:
            await pubsub.subscribe(self._channel)
            await self._apply_messages(pubsub)

    async def _apply_messages(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            message = await pubsub.get_message(timeout=self._ping_interval)
            if message is None:
                if loop.time() - heard > self._silence_limit:
                    raise TimeoutError(f"no answer from Redis for {self._silence_limit:.0f}s")
                await pubsub.ping()
                continue
            heard = loop.time()
            if message["type"] == "message":
                if (user_id := self._shared.foreign_user(message["data"])) is not None:
                    self._memory.forget_user(user_id)
                else:
                    self.own_messages += 1
            elif message["type"] == "subscribe":
                self._memory.go_live()
                if not self.subscribed.is_set():
                    log.info("ownership invalidations followed on %s; answers kept in memory", self._channel)
                self.subscribed.set()
