"""The scaled-out launcher's pieces that need no servers: its load-balancer config and its checks."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.core.errors import ConfigurationError
from bot.ops.scaled import HAPROXY_TEMPLATE, haproxy_config, postgres_problem, redis_problem


def test_haproxy_config_lists_one_server_per_replica_on_the_front_port() -> None:
    cfg = haproxy_config(9100, [9101, 9102, 9103])
    assert "bind 127.0.0.1:9100" in cfg and "bind 127.0.0.1:5005" not in cfg
    servers = [line.split() for line in cfg.splitlines() if line.strip().startswith("server ")]
    assert servers == [["server", f"rasa{i}", f"127.0.0.1:{9100 + i}", "check"] for i in (1, 2, 3)]
    # The reference file's example servers are replaced, not kept beside ours.
    assert "127.0.0.1:5006" not in cfg


def test_the_reference_config_never_retries_a_request_a_replica_received() -> None:
    lines = HAPROXY_TEMPLATE.read_text(encoding="utf-8").splitlines()
    cfg = "\n".join(line for line in lines if not line.strip().startswith("#"))
    assert "retry-on" not in cfg  # HAProxy's default retries failed connections only
    assert "balance leastconn" in cfg and "cookie" not in cfg  # no stickiness


def test_a_template_without_the_replicas_line_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "haproxy.cfg"
    broken.write_text("frontend x\n    bind 127.0.0.1:5005\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="# replicas"):
        haproxy_config(1, [2], template=broken)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_servers_are_named_with_the_reason() -> None:
    port = _closed_port()
    assert "Redis is not reachable at 127.0.0.1" in (redis_problem("127.0.0.1", port) or "")
    problem = postgres_problem(f"postgresql://user:secret@127.0.0.1:{port}/x") or ""
    assert "PostgreSQL is not reachable" in problem
    assert "secret" not in problem  # the password is masked


def test_something_that_is_not_redis_is_not_taken_for_redis() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        # Something listens, but nothing answers PING (the check gives up after 3 s).
        assert redis_problem("127.0.0.1", server.getsockname()[1]) is not None
