"""Rasa's Redis lock store, with each step of its ticket queue done atomically in Redis.

Rasa 3.6's `RedisLockStore` keeps a conversation's ticket queue as one JSON value and changes
it by read, modify, write: two Rasa processes issuing a ticket at once both read the same
queue, both append the same ticket number, and one write wins. Both messages then think it
is their turn, run at once on the same tracker, and one turn is lost (issue 20: 12 of 280
with 20 messages in flight in one conversation). Releasing and expiring tickets race the
same way, and a waiter polls once a second.

Here each conversation's queue is a Redis sorted set of tickets (score: the ticket number
from INCR; member: "number:expiry in ms"), and issuing, checking whose turn it is (dropping
expired tickets first) and releasing are each one Lua script, which Redis runs alone. A
waiter polls every few milliseconds, on an asyncio client, so Rasa's event loop is never
blocked by it; one that has waited `max_wait` seconds gives up with Rasa's `LockError`, and
the channel answers "please send it again" (rasa_plugins.inputs) well before HAProxy's timeout.

Named in bot/endpoints.yml through LOCK_STORE_TYPE when LOCK_STORE=redis (bot.ops.servers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore

logger = logging.getLogger(__name__)

_ISSUE = """
local ticket = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], ticket, ticket .. ':' .. ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return ticket
"""
# 1: the caller's turn; 0: someone is ahead; -1: the caller's ticket has expired.
_TURN = """
local queue = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, member in ipairs(queue) do
  local expires = tonumber(string.match(member, ':(%d+)$'))
  if expires <= tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], member)
  elseif member == ARGV[2] then
    return 1
  else
    return redis.call('ZSCORE', KEYS[1], ARGV[2]) and 0 or -1
  end
end
return -1
"""
_RELEASE = "return redis.call('ZREM', KEYS[1], ARGV[1])"

KEY_PREFIX = "oa:lock:"


class AtomicRedisLockStore(LockStore):  # type: ignore[misc]
    """A drop-in for Rasa's Redis lock store (`lock_store: type:` in endpoints.yml)."""

    def __init__(
        self,
        endpoint_config: Any = None,
        *,
        url: str | None = None,
        max_wait: float = 30.0,
        poll: tuple[float, float] = (0.005, 0.05),
    ) -> None:
        import redis.asyncio

        if url is None:
            kwargs = dict(getattr(endpoint_config, "kwargs", None) or {})
            host = getattr(endpoint_config, "url", None) or "localhost"
            port, db = int(kwargs.get("port", 6379)), int(kwargs.get("db", 1))
            password = kwargs.get("password")
            auth = f":{password}@" if password else ""
            url = f"redis://{auth}{host}:{port}/{db}"
        self.url, self.max_wait, self.poll = url, max_wait, poll
        # One client per event loop: Rasa's server loop, and any a test runs.
        self._clients: dict[int, tuple[Any, Any, Any, Any]] = {}
        self._redis_asyncio = redis.asyncio
        super().__init__()

    def _scripts(self) -> tuple[Any, Any, Any, Any]:
        """(client, issue, turn, release) for the running event loop."""
        loop = asyncio.get_running_loop()
        found = self._clients.get(id(loop))
        if found is None:
            client = self._redis_asyncio.Redis.from_url(self.url, socket_timeout=2.0, socket_connect_timeout=2.0)
            found = self._clients[id(loop)] = (
                client,
                client.register_script(_ISSUE),
                client.register_script(_TURN),
                client.register_script(_RELEASE),
            )
        return found

    @staticmethod
    def _keys(conversation_id: str) -> tuple[str, str]:
        return f"{KEY_PREFIX}{conversation_id}", f"{KEY_PREFIX}{conversation_id}:next"

    @contextlib.asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = 1
    ) -> AsyncGenerator[TicketLock, None]:
        """Wait for this conversation's turn (Rasa's ticket order: first come, first served);
        LockError after `max_wait` seconds, or if the ticket expired while waiting."""
        _, issue, turn, release = self._scripts()
        queue, counter = self._keys(conversation_id)
        lifetime_ms = int(lock_lifetime * 1000)
        expires = int(time.time() * 1000) + lifetime_ms
        try:
            ticket = int(await issue(keys=[queue, counter], args=[expires, 2 * lifetime_ms]))
        except Exception as exc:  # whatever the client raises, Rasa's handlers expect LockError
            raise LockError(f"the lock store did not issue a ticket: {exc.__class__.__name__}") from exc
        member = f"{ticket}:{expires}"
        try:
            await self._wait_for_turn(turn, conversation_id, queue, member)
            yield TicketLock(conversation_id)
        finally:
            with contextlib.suppress(Exception):  # an unreleased ticket expires on its own
                await release(keys=[queue], args=[member])

    async def _wait_for_turn(self, turn_script: Any, conversation_id: str, queue: str, member: str) -> None:
        deadline = time.monotonic() + self.max_wait
        pause = self.poll[0]
        while True:
            try:
                turn = int(await turn_script(keys=[queue], args=[int(time.time() * 1000), member]))
            except Exception as exc:
                raise LockError(f"the lock store did not answer: {exc.__class__.__name__}") from exc
            if turn == 1:
                return
            if turn == -1:
                raise LockError(f"the ticket for conversation {conversation_id!r} expired while waiting")
            if time.monotonic() > deadline:
                raise LockError(f"waited {self.max_wait:g} s for conversation {conversation_id!r}")
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.poll[1])

    # Rasa's other entry points into a lock store; nothing in Rasa 3.6's serving path calls them
    # when `lock` is overridden, but they must not use the racy JSON value.
    def get_lock(self, conversation_id: str) -> TicketLock | None:
        return None

    def delete_lock(self, conversation_id: str) -> None:
        return None

    def save_lock(self, lock: TicketLock) -> None:
        return None
