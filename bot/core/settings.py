"""One place that reads the environment (and an optional `.env`) and fails fast."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from bot.core.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
ENVIRONMENTS = ("development", "test", "production")
# Values people paste from templates; refused anywhere but development.
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "password", "token", "xxx", "todo", "dev-token"}
)


@dataclass(frozen=True)
class Settings:
    app_env: str
    var_dir: Path
    database_url: str
    timezone: str
    knowledge_file: Path
    rasa_auth_token: str
    rasa_url: str
    action_port: int
    rasa_port: int
    tracker_store_url: str
    lock_store: str
    lock_store_host: str
    web_port: int = 8000
    state_ttl: float = 5.0
    statuspage_url: str | None = None
    statuspage_map: Path = PROJECT_ROOT / "bot" / "statuspage_map.yml"
    statuspage_poll: float = 30.0
    statuspage_timeout: float = 5.0
    statuspage_webhook_secret: str = ""
    # Channels whose users can receive a message they did not ask for; others see notices with their next answer.
    notify_push_channels: frozenset[str] = frozenset({"webchat", "telegram", "facebook", "twilio", "slack", "socketio"})
    notify_interval: float = 5.0
    # Signs the web chat's conversation cookies; in development one is generated under var/.
    chat_secret: str = ""
    # Rasa sends it to the action server, which refuses calls without it; generated in development.
    action_server_token: str = ""
    # Shared state between several web processes (the chat's rate limits); None: per process.
    redis_url: str | None = None
    # More reports than this that a restored service still fails, within the window, flag the
    # service for operators on the console's incidents page.
    restore_report_limit: int = 5
    restore_report_window: float = 3600.0  # seconds
    # New escalations an hour from one address (web chat) and for one contact. Safety cases are
    # never refused. Several customers can share an address (mobile carriers' NAT), so the
    # per-address figure is set above what one household needs.
    escalation_client_limit: int = 5
    escalation_contact_limit: int = 3
    # Addresses (or networks) of the proxies in front of the web app whose X-Forwarded-For is
    # believed; none by default, so a client cannot choose the address every limit keys on.
    trusted_proxies: tuple[str, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_development(self) -> bool:
        return self.app_env == "development"


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low:g} and {high:g} seconds, got {value:g}")
    return value


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int, what: str = "") -> int:
    raw = env.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be {what or f'between {low} and {high}'}, got {value}")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    return _whole(env, name, default, 1, 65535, "a port number (1-65535)")


def load_settings(environ: Mapping[str, str] | None = None, dotenv_path: Path | None = None) -> Settings:
    """Build settings from `environ` (default: os.environ) over an optional `.env` file.

    Real environment variables win over `.env`, as in twelve-factor apps.
    """
    path = dotenv_path if dotenv_path is not None else PROJECT_ROOT / ".env"
    file_values = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.is_file() else {}
    env: dict[str, str] = {**file_values, **(os.environ if environ is None else environ)}

    app_env = env.get("APP_ENV", "development")
    if app_env not in ENVIRONMENTS:
        raise ConfigurationError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, got {app_env!r}")

    var_dir = Path(env.get("VAR_DIR", str(PROJECT_ROOT / "var")))
    database_url = env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'outage.db'}"
    if "://" not in database_url:
        raise ConfigurationError(f"DATABASE_URL is not a URL: {database_url!r}")

    timezone = env.get("TIMEZONE", "Pacific/Auckland")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"TIMEZONE is not a known time zone: {timezone!r}") from None

    knowledge_file = Path(env.get("KNOWLEDGE_FILE", str(PROJECT_ROOT / "bot" / "knowledge.yml")))

    token = env.get("RASA_AUTH_TOKEN", "")
    if app_env != "development" and token.strip().lower() in PLACEHOLDER_SECRETS:
        raise ConfigurationError(
            "RASA_AUTH_TOKEN is missing or a placeholder; set a long random value "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )

    tracker_store_url = env.get("TRACKER_STORE_URL") or f"sqlite:///{var_dir / 'tracker.db'}"
    if "://" not in tracker_store_url:
        raise ConfigurationError(f"TRACKER_STORE_URL is not a URL: {tracker_store_url!r}")
    lock_store = env.get("LOCK_STORE", "in_memory")
    if lock_store not in ("in_memory", "redis"):
        raise ConfigurationError(f"LOCK_STORE must be in_memory or redis, got {lock_store!r}")

    statuspage_url = env.get("STATUSPAGE_URL", "").strip().rstrip("/") or None
    if statuspage_url and not statuspage_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"STATUSPAGE_URL must be an http(s) URL, got {statuspage_url!r}")
    webhook_secret = env.get("STATUSPAGE_WEBHOOK_SECRET", "")
    if app_env != "development" and webhook_secret and webhook_secret.strip().lower() in PLACEHOLDER_SECRETS:
        raise ConfigurationError("STATUSPAGE_WEBHOOK_SECRET is a placeholder; set a long random value")

    chat_secret = env.get("CHAT_SECRET", "")
    if app_env == "production" and chat_secret.strip().lower() in PLACEHOLDER_SECRETS:
        raise ConfigurationError("CHAT_SECRET is missing or a placeholder; set a long random value")

    action_server_token = env.get("ACTION_SERVER_TOKEN", "")
    if app_env == "production" and action_server_token.strip().lower() in PLACEHOLDER_SECRETS:
        raise ConfigurationError("ACTION_SERVER_TOKEN is missing or a placeholder; set a long random value")

    redis_url = env.get("REDIS_URL", "").strip() or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got {redis_url!r}")

    trusted_proxies = tuple(p.strip() for p in env.get("TRUSTED_PROXIES", "").split(",") if p.strip())
    for proxy in trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"TRUSTED_PROXIES must list IP addresses or networks (e.g. 10.0.0.5,10.1.0.0/16), got {proxy!r}"
            ) from None

    return Settings(
        app_env=app_env,
        var_dir=var_dir,
        database_url=database_url,
        timezone=timezone,
        knowledge_file=knowledge_file,
        rasa_auth_token=token,
        rasa_url=(env.get("RASA_URL") or f"http://127.0.0.1:{_port(env, 'RASA_PORT', 5005)}").rstrip("/"),
        action_port=_port(env, "ACTION_PORT", 5055),
        rasa_port=_port(env, "RASA_PORT", 5005),
        tracker_store_url=tracker_store_url,
        lock_store=lock_store,
        lock_store_host=env.get("LOCK_STORE_HOST", "localhost"),
        web_port=_port(env, "WEB_PORT", 8000),
        state_ttl=_seconds(env, "STATE_TTL_SECONDS", 5.0, 0.0, 300.0),
        statuspage_url=statuspage_url,
        statuspage_map=Path(env.get("STATUSPAGE_MAP", str(PROJECT_ROOT / "bot" / "statuspage_map.yml"))),
        statuspage_poll=_seconds(env, "STATUSPAGE_POLL_SECONDS", 30.0, 1.0, 3600.0),
        statuspage_timeout=_seconds(env, "STATUSPAGE_TIMEOUT_SECONDS", 5.0, 0.1, 60.0),
        statuspage_webhook_secret=webhook_secret,
        notify_push_channels=frozenset(
            c.strip()
            for c in env.get("NOTIFY_PUSH_CHANNELS", "webchat,telegram,facebook,twilio,slack,socketio").split(",")
            if c.strip()
        ),
        notify_interval=_seconds(env, "NOTIFY_INTERVAL_SECONDS", 5.0, 0.2, 3600.0),
        chat_secret=chat_secret,
        action_server_token=action_server_token,
        redis_url=redis_url,
        restore_report_limit=_whole(env, "RESTORE_REPORT_LIMIT", 5, 0, 1_000_000),
        restore_report_window=60.0 * _whole(env, "RESTORE_REPORT_WINDOW_MINUTES", 60, 1, 7 * 24 * 60),
        trusted_proxies=trusted_proxies,
        escalation_client_limit=_whole(env, "ESCALATION_CLIENT_LIMIT", 5, 1, 1_000_000),
        escalation_contact_limit=_whole(env, "ESCALATION_CONTACT_LIMIT", 3, 1, 1_000_000),
    )
