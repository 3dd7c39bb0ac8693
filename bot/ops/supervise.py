"""Keep the assistant's servers running: one that exits is started again, with backoff,
while the others go on serving."""

from __future__ import annotations

import logging
import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import FrameType
from typing import NoReturn, Protocol

from bot.core.errors import OutageAssistantError

logger = logging.getLogger(__name__)


class Restartable(Protocol):
    def exited(self) -> dict[str, int]: ...

    def respawn(self, name: str) -> subprocess.Popen[bytes]: ...


@dataclass
class Supervisor:
    """Restarts exited servers: after `first_delay`, doubling up to `max_delay` while a server
    keeps failing, and back to `first_delay` once it has stayed up for `stable_after`."""

    servers: Restartable
    clock: Callable[[], float] = time.monotonic
    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 60.0
    _due: dict[str, float] = field(default_factory=dict)
    _delay: dict[str, float] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)

    def tick(self) -> list[str]:
        """Schedule restarts for servers that exited; start those that are due. Returns the
        names started."""
        now = self.clock()
        for name, code in self.servers.exited().items():
            if name in self._due:
                continue
            if now - self._started.get(name, -math.inf) >= self.stable_after:
                self._delay[name] = self.first_delay
            delay = self._delay.get(name, self.first_delay)
            self._due[name] = now + delay
            self._delay[name] = min(delay * 2, self.max_delay)
            logger.warning("%s exited with code %s; starting it again in %.0f s", name, code, delay)
        started = [name for name, due in self._due.items() if now >= due]
        for name in started:
            del self._due[name]
            self.servers.respawn(name)
            self._started[name] = now
            logger.warning("%s started again", name)
        return started


def supervise_forever(groups: Iterable[Restartable], interval: float = 0.5) -> NoReturn:
    """Keep every group's servers running until the process is interrupted (Ctrl-C, SIGTERM)."""
    supervisors = [Supervisor(group) for group in groups]
    while True:
        for supervisor in supervisors:
            supervisor.tick()
        time.sleep(interval)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_until_stopped(start: Callable[[], Iterable[Restartable]], stop: Callable[[], None]) -> int:
    """`make run`'s and `make run-scaled`'s life: start the servers, keep them running until
    Ctrl-C or SIGTERM, then stop them. Returns the process's exit code."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        supervise_forever(start())
    except KeyboardInterrupt:
        print("\nstopping...", file=sys.stderr)
        return 0
    except OutageAssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stop()
