"""rasa_plugins.lock_store in Rasa's own environment, on the real Redis: two lock stores (as
two Rasa processes) hand one conversation's turns out one at a time, in ticket order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.ops.scaled import redis_problem
from tests.rasa_plugins.test_runtime import run_in_rasa

REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")

SCRIPT = """
import asyncio, sys, time, uuid
from rasa.core.lock_store import LockError
from rasa_plugins.lock_store import AtomicRedisLockStore

URL = "redis://%s:6379/1"
first, second = AtomicRedisLockStore(url=URL), AtomicRedisLockStore(url=URL)
conversation = "lock-" + uuid.uuid4().hex[:8]
inside, most, order = 0, 0, []

async def turn(store, i):
    global inside, most
    async with store.lock(conversation):
        inside += 1
        most = max(most, inside)
        order.append(i)
        await asyncio.sleep(0.01)
        inside -= 1

async def main():
    await asyncio.gather(*(turn(first if i %% 2 else second, i) for i in range(40)))
    print("most at once", most, "turns", len(order))
    # A waiter that runs out of patience gets LockError, and the queue goes on without it.
    impatient = AtomicRedisLockStore(url=URL, max_wait=0.2)
    async with first.lock(conversation):
        try:
            async with impatient.lock(conversation):
                print("impatient got in")
        except LockError:
            print("impatient gave up")
    async with second.lock(conversation):
        print("next one got in")
    # A holder that died without releasing blocks only until its ticket's lifetime ends.
    stuck = first.lock(conversation, lock_lifetime=0.3)
    await stuck.__aenter__()
    started = time.monotonic()
    async with second.lock(conversation):
        print("after a dead holder", round(time.monotonic() - started, 1) < 2)

asyncio.run(main())
"""


def test_two_processes_take_one_conversation_one_turn_at_a_time(tmp_path: Path) -> None:
    reason = redis_problem(REDIS_HOST)
    if reason:
        pytest.skip(f"{reason}; set TEST_REDIS_HOST")
    out = run_in_rasa(SCRIPT % REDIS_HOST, tmp_path)
    assert "most at once 1 turns 40" in out
    assert "impatient gave up" in out and "impatient got in" not in out
    assert "next one got in" in out
    assert "after a dead holder True" in out
