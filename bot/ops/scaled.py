"""Rasa's own scale-out on one machine: several Rasa and action servers behind HAProxy.

`make run-scaled` (`python -m bot.ops.scaled`) starts it; `make bench` and the end-to-end tests
start the same thing on a throwaway database (tests/support/scaled.py):

- N replicas, each a Rasa server with its own action server (a replica calls only its own,
  so an action call never crosses machines when replicas are spread out);
- one PostgreSQL database shared by every replica: Rasa's tracker store and the incident store;
- Rasa's Redis lock store, so two replicas never handle one conversation at the same time;
- HAProxy in front on RASA_PORT, least connections with no stickiness: with the tracker in
  PostgreSQL and the lock in Redis any replica can take any message of any conversation;
- one web app and one notifier (the web app's chat limits live in Redis, so it too can be
  run several times).

docs/deployment.md maps this onto several machines; deploy/haproxy.cfg is the reference
load-balancer configuration this module writes for one machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, make_url, text

from bot.core.devsecrets import rasa_token
from bot.core.errors import ConfigurationError, OutageAssistantError
from bot.core.logs import configure_logging
from bot.core.settings import PROJECT_ROOT, load_settings
from bot.db.engine import make_engine
from bot.ops.run import demo_accounts, prepare_store
from bot.ops.servers import Servers, free_port, keep_private, wait_for
from bot.ops.supervise import run_until_stopped

DEFAULT_DATABASE_URL = "postgresql://127.0.0.1:5432/outage_assistant"
DEFAULT_REDIS_HOST = "127.0.0.1"
HAPROXY_TEMPLATE = PROJECT_ROOT / "deploy" / "haproxy.cfg"


def haproxy_bin() -> str | None:
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).is_file()), None
    )


def redis_problem(host: str, port: int = 6379) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(16).startswith(b"+PONG"):
                return f"Redis at {host}:{port} did not answer PING"
    except OSError as exc:
        return f"Redis is not reachable at {host}:{port} ({exc.__class__.__name__})"
    return None


def postgres_problem(url: str) -> str | None:
    engine = make_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except Exception as exc:  # any failure to connect is the answer, whatever the driver raises
        return f"PostgreSQL is not reachable at {make_url(url).render_as_string()} ({exc.__class__.__name__})"
    finally:
        engine.dispose()


def haproxy_config(front_port: int, backends: list[int], template: Path = HAPROXY_TEMPLATE) -> str:
    """deploy/haproxy.cfg with this machine's ports: the front on `front_port`, a server per replica."""
    servers = "".join(f"    server rasa{i} 127.0.0.1:{port} check\n" for i, port in enumerate(backends, 1))
    body = template.read_text(encoding="utf-8")
    body = body.replace("bind 127.0.0.1:5005", f"bind 127.0.0.1:{front_port}")
    head, marker, _ = body.partition("    # replicas\n")
    if not marker:
        raise ConfigurationError(f"{template} has no '    # replicas' line to put the servers after")
    return f"{head}{marker}{servers}"


@contextmanager
def on_server(url: str) -> Iterator[Connection]:
    """An autocommit connection to the `postgres` database of `url`'s server, from which
    databases are created and dropped."""
    admin = make_engine(make_url(url).set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
    finally:
        admin.dispose()


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database `url` names if it does not exist yet."""
    name = make_url(url).database
    with on_server(url) as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))


@dataclass
class ScaledAssistant:
    """N replicas (Rasa + action server) behind HAProxy, on PostgreSQL and Redis."""

    env: dict[str, str]
    var: Path
    replicas: int = 2
    with_web: bool = False
    front: Servers | None = None
    members: list[Servers] = field(default_factory=list)
    haproxy: subprocess.Popen[bytes] | None = None
    token: str = ""

    @property
    def front_port(self) -> int:
        return load_settings(self.env).rasa_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.front_port}"

    def start(self) -> None:
        haproxy = haproxy_bin()
        if haproxy is None:
            raise OutageAssistantError("HAProxy is not installed; run `make run-scaled` (it installs it) or apt")
        ensure_database(self.env["DATABASE_URL"])
        settings = load_settings(self.env)
        prepare_store(settings)
        token = self.token = rasa_token(settings)
        try:
            backends = []
            for i in range(1, self.replicas + 1):
                folder = self.var / f"replica{i}"
                folder.mkdir(parents=True, exist_ok=True)
                # Each replica keeps its own logs, pid files and action-server secret in its folder.
                env = {
                    **self.env,
                    "VAR_DIR": str(folder),
                    "RASA_PORT": str(free_port()),
                    "ACTION_PORT": str(free_port()),
                }
                member = Servers(settings=load_settings(env), env=env, token=token, logs=folder)
                self.members.append(member)
                member.start_actions()
                member.start_rasa()
                backends.append(member.settings.rasa_port)
            cfg = self.var / "haproxy.cfg"
            cfg.write_text(haproxy_config(settings.rasa_port, backends), encoding="utf-8")
            with (self.var / "haproxy.log").open("ab") as log:
                self.haproxy = subprocess.Popen([haproxy, "-db", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
            wait_for(f"{self.url}/", 30, [self.haproxy])
            if self.with_web:
                self.front = Servers(settings=settings, env=self.env, token=token, logs=self.var)
                self.front.start_web()
                self.front.start_notifier()
        except Exception:
            self.stop()
            raise

    def pids(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i, member in enumerate(self.members, 1):
            out |= {f"{name} {i}": proc.pid for name, proc in member.procs.items()}
        if self.haproxy is not None:
            out["haproxy"] = self.haproxy.pid
        return out

    def stop(self) -> None:
        if self.front is not None:
            self.front.stop_all()
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            self.haproxy.wait(timeout=30)
        for member in self.members:
            member.stop_all()


def main() -> int:
    """`make run-scaled`: REPLICAS replicas on the PostgreSQL and Redis the environment names."""
    configure_logging()
    env = dict(os.environ)
    url = env.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith("postgresql"):
        print("error: the scaled-out setup needs PostgreSQL; set DATABASE_URL=postgresql://...", file=sys.stderr)
        return 2
    redis_host = env.get("LOCK_STORE_HOST") or DEFAULT_REDIS_HOST
    env |= {
        "DATABASE_URL": url,
        "TRACKER_STORE_URL": env.get("TRACKER_STORE_URL") or url,
        "LOCK_STORE": "redis",
        "LOCK_STORE_HOST": redis_host,
        "REDIS_URL": env.get("REDIS_URL") or f"redis://{redis_host}:6379/0",
    }
    replicas = int(env.get("REPLICAS", "2"))
    # Its own files (logs, development secrets, demo console accounts), apart from `make run`'s,
    # whose accounts live in another database.
    var = Path(env.get("VAR_DIR") or PROJECT_ROOT / "var") / "scaled"
    env["VAR_DIR"] = str(var)
    keep_private(var)
    assistant = ScaledAssistant(env=env, var=var, replicas=replicas, with_web=True)
    problem = postgres_problem(make_url(url).set(database="postgres").render_as_string(hide_password=False))
    problem = problem or redis_problem(redis_host)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    def start() -> list[Servers]:
        assistant.start()
        settings = load_settings(env)
        accounts = demo_accounts(settings)
        print(
            f"\nOutage Assistant is running, scaled out: {replicas} Rasa + action servers behind HAProxy.\n"
            f"  Customers (REST, load-balanced): {assistant.url}/webhooks/rest/webhook\n"
            f"  Web app, console, admin API:     http://127.0.0.1:{settings.web_port}/\n"
            f"  Shared state: {make_url(url).render_as_string()} and Redis at {redis_host}:6379\n"
            + "".join(f"  Console {role:5} login: {name} / {password}\n" for name, role, password in accounts)
            + "  Stop: Ctrl-C\n",
            flush=True,
        )
        # As under `make run`, a server that exits is started again, with backoff, while the
        # other replicas (and HAProxy, which stops sending them messages) carry on.
        return [*assistant.members, *([assistant.front] if assistant.front else [])]

    return run_until_stopped(start, assistant.stop)


if __name__ == "__main__":
    sys.exit(main())
