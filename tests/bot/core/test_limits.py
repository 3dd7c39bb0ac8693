"""The web chat's rate limits, in one process and shared through a real Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from bot.core.limits import LocalLimiter, RedisLimiter, chat_limiters, escalation_limiters, redis_client
from bot.ops.scaled import redis_problem

REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")


async def test_local_window_slides() -> None:
    now = [0.0]
    limiter = LocalLimiter(limit=2, window=10, clock=lambda: now[0])
    assert await limiter.allow("a") and await limiter.allow("a") and not await limiter.allow("a")
    assert await limiter.allow("b")
    now[0] = 10.5
    assert await limiter.allow("a")


def test_without_redis_the_limits_are_per_process() -> None:
    conversation, address = chat_limiters(None)
    assert isinstance(conversation, LocalLimiter) and isinstance(address, LocalLimiter)
    assert (conversation.limit, address.limit) == (20, 120)


@pytest.fixture
async def clients() -> AsyncIterator[tuple[redis.asyncio.Redis, redis.asyncio.Redis]]:
    """Two separate connections, as two web processes would have."""
    reason = redis_problem(REDIS_HOST)
    if reason:
        pytest.skip(f"{reason}; set TEST_REDIS_HOST")
    first = redis.asyncio.Redis(host=REDIS_HOST)
    second = redis.asyncio.Redis(host=REDIS_HOST)
    yield first, second
    await first.aclose()
    await second.aclose()


async def test_two_processes_share_one_limit_through_redis(
    clients: tuple[redis.asyncio.Redis, redis.asyncio.Redis],
) -> None:
    prefix = f"test:{uuid.uuid4().hex}"
    a = RedisLimiter(clients[0], prefix, limit=3, window=60)
    b = RedisLimiter(clients[1], prefix, limit=3, window=60)
    results = [await a.allow("conv"), await b.allow("conv"), await a.allow("conv"), await b.allow("conv")]
    assert results == [True, True, True, False]
    assert await b.allow("other")  # each key counts on its own


async def test_the_redis_window_slides(clients: tuple[redis.asyncio.Redis, redis.asyncio.Redis]) -> None:
    now = [1_000.0]
    limiter = RedisLimiter(clients[0], f"test:{uuid.uuid4().hex}", limit=1, window=10, clock=lambda: now[0])
    assert await limiter.allow("k") and not await limiter.allow("k")
    now[0] += 10.5
    assert await limiter.allow("k")
    ttl = await clients[0].pttl(f"{limiter.prefix}:k")
    assert 0 < ttl <= 10_000  # idle keys leave Redis on their own


async def test_an_unreachable_redis_lets_messages_through() -> None:
    dead = redis_client("redis://127.0.0.1:1/0")
    limiter = RedisLimiter(dead, "test:dead", limit=1, window=60)
    assert await limiter.allow("k") and await limiter.allow("k")
    await dead.aclose()


async def test_idle_keys_are_forgotten_after_their_window() -> None:
    now = [0.0]
    limiter = LocalLimiter(limit=5, window=60, clock=lambda: now[0])
    for i in range(100_000):
        await limiter.allow(f"address-{i}")
    assert len(limiter.hits) == 100_000
    now[0] = 61.0
    for i in range(100_000 // limiter.sweep + 1):  # a few at each call, never all at once
        assert await limiter.allow(f"new-{i}")
    assert all(key.startswith("new-") for key in limiter.hits)  # the 100,000 idle keys are gone


async def test_a_busy_key_keeps_its_count_while_idle_ones_go() -> None:
    now = [0.0]
    limiter = LocalLimiter(limit=2, window=60, clock=lambda: now[0])
    assert await limiter.allow("idle")
    now[0] = 30.0
    assert await limiter.allow("busy") and await limiter.allow("busy") and not await limiter.allow("busy")
    now[0] = 70.0  # "idle" has been quiet for a window; "busy" has not
    assert not await limiter.allow("busy")
    assert "idle" not in limiter.hits


async def test_memory_stays_bounded_under_a_flood_of_new_keys() -> None:
    limiter = LocalLimiter(limit=5, window=60, clock=lambda: 0.0, max_keys=1_000)
    for i in range(5_000):
        assert await limiter.allow(f"k{i}")
    assert len(limiter.hits) <= 1_001


async def test_a_hundred_new_escalations_from_one_address_across_two_processes_allow_five() -> None:
    """The escalation limits from REDIS_URL, built twice as two action servers would: one
    address trying 100 times in a minute, alternating between them, gets the limit in all."""
    reason = redis_problem(REDIS_HOST)
    if reason:
        pytest.skip(f"{reason}; set TEST_REDIS_HOST")
    url = f"redis://{REDIS_HOST}:6379/0"
    first, _ = escalation_limiters(url, per_client=5, per_contact=3)
    second, _ = escalation_limiters(url, per_client=5, per_contact=3)
    address = f"test-{uuid.uuid4().hex[:16]}"
    allowed = [await (first if i % 2 else second).allow(address) for i in range(100)]
    assert sum(allowed) == 5 and allowed[:5] == [True] * 5
    await first.client.aclose()  # type: ignore[attr-defined]
    await second.client.aclose()  # type: ignore[attr-defined]


def test_without_redis_the_escalation_limits_are_per_process() -> None:
    per_client, per_contact = escalation_limiters(None, per_client=5, per_contact=3)
    assert isinstance(per_client, LocalLimiter) and (per_client.limit, per_contact.limit) == (5, 3)  # type: ignore[attr-defined]
