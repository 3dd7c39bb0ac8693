"""Sliding-window rate limits: in this process, or shared through Redis.

Used by the web chat (messages per conversation and per address) and by the action server
(new escalations per address and per contact).

One web process keeps its counts in memory. Several web processes behind a load balancer
(`make run-scaled`, docs/deployment.md) must count together, or each would grant the full
limit and a client would get N times it by being spread over N processes: with REDIS_URL
set, the counts live in Redis, one sorted set of hit times per key.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Limiter(Protocol):
    async def allow(self, key: str) -> bool:
        """Count one hit for `key`; False if it is over the limit (the hit is then not counted)."""
        ...


@dataclass
class LocalLimiter:
    """Per key, in this process. A key is forgotten once a whole window has passed since its
    last counted hit, so memory holds only the keys active within one window (and at most
    `max_keys`), and each call costs the same however many keys came before.

    The keys are kept in the order of their last counted hit, so the idle ones are always at
    the front: each call drops those, and never walks the rest (issue 20 measured 2.5 ms a
    call once 100,000 keys had passed through the old sweep of every key).
    """

    limit: int
    window: float
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 200_000
    sweep: int = 64
    hits: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    async def allow(self, key: str) -> bool:
        now = self.clock()
        horizon = now - self.window
        # A few idle keys per call, so that a crowd of them expiring together is forgotten
        # over the next calls rather than in one long pause of the event loop.
        for _ in range(self.sweep):
            if not self.hits:
                break
            oldest = next(iter(self.hits.values()))
            if oldest and oldest[-1] > horizon:
                break
            self.hits.popitem(last=False)
        while len(self.hits) > self.max_keys:
            self.hits.popitem(last=False)
        recent = self.hits.get(key)
        if recent is None:
            recent = self.hits[key] = deque()
        while recent and recent[0] <= horizon:
            recent.popleft()
        if len(recent) >= self.limit:
            return False
        recent.append(now)
        self.hits.move_to_end(key)
        return True


# Atomic in Redis (scripts run alone): drop hits older than the window, refuse at the limit,
# otherwise record this hit and let the key expire once the window has passed.
SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(ARGV[2] * 1000))
return 1
"""


@dataclass
class RedisLimiter:
    """Per key, shared by every process that uses the same Redis and `prefix`.

    If Redis cannot be reached the message is let through (and logged): during an outage
    the chat must keep answering, and the per-process limit of one web app is no defence
    that a shared one failing open would lose.
    """

    client: Any  # redis.asyncio.Redis
    prefix: str
    limit: int
    window: float
    clock: Callable[[], float] = time.time  # Redis compares times from every process: wall clock
    _script: Any = field(default=None, repr=False)

    async def allow(self, key: str) -> bool:
        from redis.exceptions import RedisError

        if self._script is None:  # sent once, then called by its hash (EVALSHA)
            self._script = self.client.register_script(SLIDING_WINDOW)
        try:
            allowed = await self._script(
                keys=[f"{self.prefix}:{key}"], args=[self.clock(), self.window, self.limit, uuid.uuid4().hex]
            )
        except (RedisError, OSError):
            logger.warning("Redis did not answer; a chat message was let through without a rate limit")
            return True
        return bool(allowed)


def redis_client(url: str) -> Any:
    """A client that gives up fast: short timeouts, and one immediate retry (for a pooled
    connection Redis has closed) instead of redis-py's default three with backoff, which held
    every chat message for 3 s while Redis was down."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.asyncio.Redis.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 1)
    )


def chat_limiters(redis_url: str | None) -> tuple[Limiter, Limiter]:
    """The per-conversation (20 a minute) and per-address (120 a minute) limits."""
    if redis_url is None:
        return LocalLimiter(limit=20, window=60), LocalLimiter(limit=120, window=60)
    client = redis_client(redis_url)
    return (
        RedisLimiter(client, "oa:limit:conversation", limit=20, window=60),
        RedisLimiter(client, "oa:limit:address", limit=120, window=60),
    )


ESCALATION_WINDOW = 3600.0  # seconds


def escalation_limiters(redis_url: str | None, per_client: int, per_contact: int) -> tuple[Limiter, Limiter]:
    """New escalations per address and per contact, an hour. One client minting web-chat
    cookies could otherwise bury the queue (issue 21). Shared through Redis when several action
    servers run, like the chat's limits."""
    if redis_url is None:
        return (
            LocalLimiter(limit=per_client, window=ESCALATION_WINDOW),
            LocalLimiter(limit=per_contact, window=ESCALATION_WINDOW),
        )
    client = redis_client(redis_url)
    return (
        RedisLimiter(client, "oa:limit:escalation:address", limit=per_client, window=ESCALATION_WINDOW),
        RedisLimiter(client, "oa:limit:escalation:contact", limit=per_contact, window=ESCALATION_WINDOW),
    )
