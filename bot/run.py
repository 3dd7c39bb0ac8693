"""Start the whole assistant: migrate and seed the store, then the action server and Rasa.

`make run` calls this. Ctrl-C (or SIGTERM) stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import httpx

from bot.db import make_engine, make_session_factory
from bot.errors import ConfigurationError, OutageAssistantError
from bot.knowledge import load_knowledge
from bot.migrate import upgrade
from bot.seed import is_empty, load_scenario, scenario_path
from bot.settings import PROJECT_ROOT, Settings, load_settings
from bot.store import utcnow

MODEL = PROJECT_ROOT / "models" / "outage-assistant.tar.gz"


def dev_token(settings: Settings) -> str:
    """The configured token, or in development one generated once and kept under var/."""
    if settings.rasa_auth_token:
        return settings.rasa_auth_token
    if not settings.is_development:
        raise ConfigurationError("RASA_AUTH_TOKEN is required outside development")
    path = settings.var_dir / "rasa-token"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def rasa_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the Rasa process: fills the ${...} placeholders in bot/endpoints.yml."""
    env = dict(os.environ if base is None else base)
    env.update(
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{settings.action_port}/webhook",
        TRACKER_STORE_URL=settings.tracker_store_url,
        LOCK_STORE_TYPE=settings.lock_store,
        LOCK_STORE_HOST=settings.lock_store_host,
        # Rasa's telemetry would try to reach the internet at start-up.
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
    )
    return env


def action_server_command(settings: Settings, python: str = sys.executable) -> list[str]:
    return [python, "-m", "rasa_sdk", "--actions", "actions", "--port", str(settings.action_port)]


def rasa_command(settings: Settings, token: str, rasa_bin: str, model: Path = MODEL) -> list[str]:
    return [
        rasa_bin,
        "run",
        "--model",
        str(model),
        "--endpoints",
        str(PROJECT_ROOT / "bot" / "endpoints.yml"),
        "--credentials",
        str(PROJECT_ROOT / "bot" / "credentials.yml"),
        "--port",
        str(settings.rasa_port),
        "--interface",
        "127.0.0.1",
        "--enable-api",
        "--auth-token",
        token,
    ]


def wait_for(url: str, timeout: float, procs: list[subprocess.Popen[bytes]] = ()) -> None:  # type: ignore[assignment]
    """Poll `url` until it answers 200; fail early if one of `procs` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise OutageAssistantError(f"{proc.args[0]} exited with code {proc.returncode} during start-up")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise OutageAssistantError(f"{url} did not come up within {timeout:.0f} s")


def prepare_store(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        if is_empty(session):
            knowledge = load_knowledge(settings.knowledge_file)
            load_scenario(session, scenario_path("outage_day_two"), knowledge, now=utcnow(), tz=settings.tz)
            print("Loaded the demo outage (day two). Reset with: make reset-demo")
    engine.dispose()


def main() -> int:
    try:
        settings = load_settings()
        token = dev_token(settings)
        prepare_store(settings)
    except OutageAssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rasa_bin = os.environ.get("RASA_BIN", str(PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"))
    procs: list[subprocess.Popen[bytes]] = []

    def stop(signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        procs.append(subprocess.Popen(action_server_command(settings), cwd=PROJECT_ROOT))
        procs.append(subprocess.Popen(rasa_command(settings, token, rasa_bin), cwd=PROJECT_ROOT, env=rasa_env(settings)))
        wait_for(f"http://127.0.0.1:{settings.action_port}/health", 60, procs)
        wait_for(f"http://127.0.0.1:{settings.rasa_port}/", 180, procs)
        print(
            "\nOutage Assistant is running.\n"
            "  Chat in this terminal:  make shell\n"
            f"  Or with curl:           curl -s localhost:{settings.rasa_port}/webhooks/rest/webhook "
            "-H 'Content-Type: application/json' -d '{\"sender\": \"me\", \"message\": \"I can\\'t top up\"}'\n"
            f"  Rasa HTTP API token:    {settings.var_dir / 'rasa-token'} (or RASA_AUTH_TOKEN)\n"
            "  Stop:                   Ctrl-C\n",
            flush=True,
        )
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        print("a server exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping...", file=sys.stderr)
        return 0
    except OutageAssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
