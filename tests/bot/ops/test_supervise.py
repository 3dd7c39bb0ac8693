"""The supervisor restarts exited servers with backoff, and forgives a server that stayed up."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

import pytest

from bot.ops.supervise import Supervisor, supervise_forever


@dataclass
class FakeServers:
    down: dict[str, int] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)

    def exited(self) -> dict[str, int]:
        return dict(self.down)

    def respawn(self, name: str) -> subprocess.Popen[bytes]:
        self.started.append(name)
        self.down.pop(name, None)
        return None  # type: ignore[return-value]  # the supervisor does not use it


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_crash_is_restarted_after_the_first_delay_and_others_are_left_alone() -> None:
    servers, clock = FakeServers(down={"actions": -9}), Clock()
    supervisor = Supervisor(servers, clock=clock, first_delay=1, max_delay=30)
    assert supervisor.tick() == []  # scheduled, not yet due
    clock.now = 0.5
    assert supervisor.tick() == []
    clock.now = 1.0
    assert supervisor.tick() == ["actions"] and servers.started == ["actions"]
    clock.now = 5
    assert supervisor.tick() == []  # nothing else exited


def test_repeated_crashes_back_off_doubling_up_to_the_maximum() -> None:
    servers, clock = FakeServers(), Clock()
    supervisor = Supervisor(servers, clock=clock, first_delay=1, max_delay=8, stable_after=60)
    waits = []
    for _ in range(6):
        servers.down["rasa"] = 1
        crashed_at = clock.now
        supervisor.tick()
        while not servers.started or servers.started[-1:] != ["rasa"] or "rasa" in servers.down:
            clock.now += 0.25
            supervisor.tick()
        waits.append(clock.now - crashed_at)
        servers.started.clear()
    assert waits == [1, 2, 4, 8, 8, 8]


def test_a_server_that_stayed_up_starts_again_from_the_first_delay() -> None:
    servers, clock = FakeServers(down={"web": 1}), Clock()
    supervisor = Supervisor(servers, clock=clock, first_delay=1, max_delay=30, stable_after=60)
    supervisor.tick()
    clock.now = 1
    supervisor.tick()  # restarted; the next delay would be 2 s
    clock.now = 100  # it ran for 99 s
    servers.down["web"] = 1
    supervisor.tick()
    clock.now = 101
    assert supervisor.tick() == ["web"]


class Stop(Exception):
    pass


@dataclass
class OneGroup:
    """A group whose one server is down until started again; the loop is interrupted once
    `everyone` servers were started."""

    name: str
    started: list[str]
    everyone: int

    def exited(self) -> dict[str, int]:
        if len(self.started) >= self.everyone:
            raise Stop
        return {} if self.name in self.started else {self.name: 1}

    def respawn(self, name: str) -> subprocess.Popen[bytes]:
        self.started.append(name)
        return None  # type: ignore[return-value]


def test_supervise_forever_restarts_each_groups_servers() -> None:
    """Every replica's servers are watched (make run-scaled), not only the first group's."""
    started: list[str] = []
    with pytest.raises(Stop):
        supervise_forever([OneGroup("rasa 1", started, 2), OneGroup("rasa 2", started, 2)], interval=0.05)
    assert sorted(started) == ["rasa 1", "rasa 2"]
