"""Start and stop the assistant's server processes as children: the action server, Rasa, the
web app, the notifier and the local status page, each through its entry module in bot/ops.

Shared by `make run` (bot.ops.run), `make run-scaled` (bot.ops.scaled), the end-to-end tests
and the benchmarks (through tests/support), so that all of them start the assistant the same way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from dotenv import dotenv_values

from bot.core.devsecrets import action_token
from bot.core.errors import ConfigurationError, OutageAssistantError
from bot.core.settings import PROJECT_ROOT, Settings
from bot.rasa_api import RasaAuth

MODEL = PROJECT_ROOT / "models" / "outage-assistant.tar.gz"
DEFAULT_RASA_BIN = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"


def free_port() -> int:
    """A TCP port on loopback that nothing is listening on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keep_private(var: Path) -> None:
    """Files this process and its servers create are theirs alone (umask 077: databases and
    their -wal and -shm files, logs, secrets, pid files), and so are those already under `var`."""
    os.umask(0o077)
    var.mkdir(parents=True, exist_ok=True)
    var.chmod(0o700)
    for path in var.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


# What bot/endpoints.yml's lock store type is for each LOCK_STORE: Rasa's own Redis lock store
# loses turns when two processes take one conversation's messages at once (rasa_plugins.lock_store).
LOCK_STORE_TYPES = {"in_memory": "in_memory", "redis": "rasa_plugins.lock_store.AtomicRedisLockStore"}


def rasa_env(settings: Settings, token: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the Rasa process: fills the ${...} placeholders in bot/endpoints.yml and
    carries the API token (rasa_plugins.runtime reads it there, so it is on no command line)."""
    env = dict(os.environ if base is None else base)
    env.update(
        RASA_AUTH_TOKEN=token,
        ACTION_SERVER_TOKEN=action_token(settings),
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{settings.action_port}/webhook",
        TRACKER_STORE_URL=settings.tracker_store_url,
        LOCK_STORE_TYPE=LOCK_STORE_TYPES[settings.lock_store],
        LOCK_STORE_HOST=settings.lock_store_host,
    )
    env.update(rasa_quiet_env())
    return env


def rasa_quiet_env() -> dict[str, str]:
    """bot/rasa.env: the variables every Rasa process runs with (the Makefile exports the same)."""
    return {k: v for k, v in dotenv_values(PROJECT_ROOT / "bot" / "rasa.env").items() if v is not None}


# Each social channel, with the environment variables that configure it (required first).
SOCIAL = {
    "rasa_plugins.channels.SignedFacebookInput": (
        {"verify": "FACEBOOK_VERIFY", "secret": "FACEBOOK_SECRET", "page-access-token": "FACEBOOK_PAGE_ACCESS_TOKEN"},
        {"api_base": "FACEBOOK_API_BASE"},
    ),
    "rasa_plugins.channels.SignedTelegramInput": (
        {
            "access_token": "TELEGRAM_ACCESS_TOKEN",
            "verify": "TELEGRAM_VERIFY",
            "webhook_url": "TELEGRAM_WEBHOOK_URL",
            "secret_token": "TELEGRAM_SECRET_TOKEN",
        },
        {"api_base": "TELEGRAM_API_BASE"},
    ),
    "rasa_plugins.channels.SignedTwilioInput": (
        {
            "account_sid": "TWILIO_ACCOUNT_SID",
            "auth_token": "TWILIO_AUTH_TOKEN",
            "twilio_number": "TWILIO_NUMBER",
            "webhook_url": "TWILIO_WEBHOOK_URL",
        },
        {"api_base": "TWILIO_API_BASE"},
    ),
}


def write_credentials(settings: Settings, env: Mapping[str, str]) -> Path:
    """Rasa's credentials file for this run: the REST channel always, and each social channel
    whose variables are all set. Half-configured channels are an error, not silently off."""
    import yaml

    channels: dict[str, Any] = {"rasa_plugins.inputs.SafeRestInput": None}
    for channel, (required, optional) in SOCIAL.items():
        present = {key: env.get(var, "").strip() for key, var in required.items()}
        if not any(present.values()):
            continue
        missing = [required[k] for k, v in present.items() if not v]
        if missing:
            raise ConfigurationError(f"{channel.rsplit('.', 1)[1]}: set {', '.join(missing)} too, or none of them")
        extra = {key: env[var] for key, var in optional.items() if env.get(var, "").strip()}
        channels[channel] = present | extra
    path = settings.var_dir / "credentials.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(channels, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
    return path


def action_server_command(python: str = sys.executable) -> list[str]:
    return [python, "-m", "bot.ops.action_server"]


def rasa_command(
    settings: Settings, rasa_bin: str | Path, model: Path = MODEL, credentials: Path | None = None
) -> list[str]:
    """`rasa run` through rasa_plugins.runtime, which adds the token from the environment."""
    return [
        str(Path(rasa_bin).parent / "python"),
        "-m",
        "rasa_plugins.runtime",
        "run",
        "--model",
        str(model),
        "--endpoints",
        str(PROJECT_ROOT / "bot" / "endpoints.yml"),
        "--credentials",
        str(credentials or PROJECT_ROOT / "bot" / "credentials.yml"),
        "--port",
        str(settings.rasa_port),
        "--interface",
        "127.0.0.1",
        "--enable-api",
    ]


def wait_for(
    url: str, timeout: float, procs: Sequence[subprocess.Popen[bytes]] = (), auth: httpx.Auth | None = None
) -> None:
    """Poll `url` until it answers 200; fail early if one of `procs` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise OutageAssistantError(f"{url}: its server exited with code {proc.returncode} during start-up")
        try:
            if httpx.get(url, timeout=2.0, auth=auth).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise OutageAssistantError(f"{url} did not come up within {timeout:.0f} s")


@dataclass
class Servers:
    """The server processes of one assistant. `logs=None` lets them write to this terminal."""

    settings: Settings
    env: dict[str, str]
    token: str
    logs: Path | None = None
    rasa_bin: Path = field(default_factory=lambda: Path(os.environ.get("RASA_BIN", DEFAULT_RASA_BIN)))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # How each server was started, so that a supervisor can start it again the same way.
    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.rasa_port}"

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out: IO[bytes] | None = None
        if self.logs is not None:
            out = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None)
        if out is not None:
            out.close()  # the child has its own copy
        self.procs[name] = proc
        self.commands[name] = (cmd, env)
        pids = self.settings.var_dir / "run"
        pids.mkdir(parents=True, exist_ok=True)
        (pids / f"{name}.pid").write_text(f"{proc.pid}\n", encoding="utf-8")
        return proc

    def respawn(self, name: str) -> subprocess.Popen[bytes]:
        """Start `name` again as it was started, without waiting for it to be ready."""
        cmd, env = self.commands[name]
        return self._spawn(name, cmd, env)

    def exited(self) -> dict[str, int]:
        """The servers that have stopped, with their exit codes."""
        return {name: code for name, proc in self.procs.items() if (code := proc.poll()) is not None}

    def start_actions(self, timeout: float = 60) -> None:
        proc = self._spawn("actions", action_server_command(), self.env)
        wait_for(f"http://127.0.0.1:{self.settings.action_port}/health", timeout, [proc])

    def start_rasa(self, timeout: float = 240) -> None:
        if not MODEL.is_file():
            raise OutageAssistantError(f"no trained model at {MODEL}; run `make train`")
        if not self.rasa_bin.is_file():
            raise OutageAssistantError(f"Rasa not found at {self.rasa_bin}; run `make setup`")
        credentials = write_credentials(self.settings, self.env)
        proc = self._spawn(
            "rasa",
            rasa_command(self.settings, self.rasa_bin, credentials=credentials),
            rasa_env(self.settings, self.token, self.env),
        )
        # /status answers only once the model has loaded; "/" answers before that.
        wait_for(f"{self.rasa_url}/status", timeout, [proc], auth=RasaAuth(self.token))

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    def start_web(self, timeout: float = 60) -> None:
        """The admin API, webhooks and health (and the status-page sync, if one is configured)."""
        proc = self._spawn("web", [sys.executable, "-m", "bot.ops.web"], self.env)
        wait_for(f"{self.web_url}/openapi.json", timeout, [proc])

    def start_notifier(self) -> None:
        """The notify-me outbox worker; it has no port, so "started" means "still running"."""
        proc = self._spawn("notifier", [sys.executable, "-m", "bot.ops.notifier"], self.env)
        time.sleep(0.5)
        if proc.poll() is not None:
            raise OutageAssistantError(f"the notifier exited with code {proc.returncode} at start-up")

    def start_status_page(self, folder: Path, port: int, timeout: float = 30, demo: bool = False) -> str:
        """The local Statuspage-format page serving `folder`; returns its base URL."""
        cmd = [sys.executable, "-m", "bot.ops.status_page", "--dir", str(folder), "--port", str(port)]
        proc = self._spawn("statuspage", [*cmd, "--demo"] if demo else cmd, self.env)
        wait_for(f"http://127.0.0.1:{port}/health", timeout, [proc])
        return f"http://127.0.0.1:{port}"

    def stop(self, name: str) -> None:
        self.commands.pop(name, None)
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def running(self) -> bool:
        return all(p.poll() is None for p in self.procs.values())
