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


# The channels whose users can receive a message they did not ask for; others see notices
# with their next answer. NOTIFY_PUSH_CHANNELS overrides it.
PUSH_CHANNELS = ("webchat", "telegram", "facebook", "twilio", "slack", "socketio")


@dataclass(frozen=True)
class Settings:
    """Every setting, each default written here once; `load_settings` reads the environment over them."""

    app_env: str = "development"
    var_dir: Path = PROJECT_ROOT / "var"
    # Empty: SQLite files under var_dir (outage.db, tracker.db).
    database_url: str = ""
    timezone: str = "Pacific/Auckland"
    knowledge_file: Path = PROJECT_ROOT / "bot" / "knowledge.yml"
    rasa_auth_token: str = ""
    # Empty: Rasa on this machine, on rasa_port.
    rasa_url: str = ""
    action_port: int = 5055
    rasa_port: int = 5005
    tracker_store_url: str = ""
    lock_store: str = "in_memory"
    lock_store_host: str = "localhost"
    web_port: int = 8000
    state_ttl: float = 5.0
    statuspage_url: str | None = None
    statuspage_map: Path = PROJECT_ROOT / "bot" / "statuspage_map.yml"
    statuspage_poll: float = 30.0
    statuspage_timeout: float = 5.0
    statuspage_webhook_secret: str = ""
    notify_push_channels: frozenset[str] = frozenset(PUSH_CHANNELS)
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


_DEFAULTS = Settings()


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


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    if "://" not in value:
        raise ConfigurationError(f"{name} is not a URL: {value!r}")
    return value


def _secret(env: Mapping[str, str], name: str, required_in: tuple[str, ...], app_env: str) -> str:
    """A secret, refused when it is a placeholder (or missing) in one of the `required_in` environments."""
    value = env.get(name, "")
    if app_env in required_in and value.strip().lower() in PLACEHOLDER_SECRETS:
        raise ConfigurationError(
            f"{name} is missing or a placeholder; set a long random value "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return value


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, default)
    if value not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _timezone(env: Mapping[str, str]) -> str:
    timezone = env.get("TIMEZONE", _DEFAULTS.timezone)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"TIMEZONE is not a known time zone: {timezone!r}") from None
    return timezone


def _statuspage_url(env: Mapping[str, str]) -> str | None:
    url = env.get("STATUSPAGE_URL", "").strip().rstrip("/") or None
    if url and not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"STATUSPAGE_URL must be an http(s) URL, got {url!r}")
    return url


def _webhook_secret(env: Mapping[str, str], app_env: str) -> str:
    """Optional: empty turns the webhook off; set, it must not be a placeholder outside development."""
    if not env.get("STATUSPAGE_WEBHOOK_SECRET", ""):
        return ""
    return _secret(env, "STATUSPAGE_WEBHOOK_SECRET", ("test", "production"), app_env)


def _redis_url(env: Mapping[str, str]) -> str | None:
    redis_url = env.get("REDIS_URL", "").strip() or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got {redis_url!r}")
    return redis_url


def _trusted_proxies(env: Mapping[str, str]) -> tuple[str, ...]:
    proxies = tuple(p.strip() for p in env.get("TRUSTED_PROXIES", "").split(",") if p.strip())
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"TRUSTED_PROXIES must list IP addresses or networks (e.g. 10.0.0.5,10.1.0.0/16), got {proxy!r}"
            ) from None
    return proxies


def _environment(environ: Mapping[str, str] | None, dotenv_path: Path | None) -> dict[str, str]:
    """`environ` (default: os.environ) over an optional `.env` file: real variables win, as in
    twelve-factor apps."""
    path = dotenv_path if dotenv_path is not None else PROJECT_ROOT / ".env"
    file_values = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.is_file() else {}
    return {**file_values, **(os.environ if environ is None else environ)}


def load_settings(environ: Mapping[str, str] | None = None, dotenv_path: Path | None = None) -> Settings:
    """Build settings from `environ` (default: os.environ) over an optional `.env` file."""
    env = _environment(environ, dotenv_path)
    d = _DEFAULTS
    app_env = _choice(env, "APP_ENV", d.app_env, ENVIRONMENTS)
    var_dir = Path(env.get("VAR_DIR", str(d.var_dir)))
    rasa_port = _port(env, "RASA_PORT", d.rasa_port)
    push = env.get("NOTIFY_PUSH_CHANNELS", ",".join(PUSH_CHANNELS))
    window_minutes = _whole(env, "RESTORE_REPORT_WINDOW_MINUTES", round(d.restore_report_window / 60), 1, 7 * 24 * 60)
    return Settings(
        app_env=app_env,
        var_dir=var_dir,
        database_url=_url(env, "DATABASE_URL", d.database_url or f"sqlite:///{var_dir / 'outage.db'}"),
        timezone=_timezone(env),
        knowledge_file=Path(env.get("KNOWLEDGE_FILE", str(d.knowledge_file))),
        rasa_auth_token=_secret(env, "RASA_AUTH_TOKEN", ("test", "production"), app_env),
        rasa_url=(env.get("RASA_URL") or d.rasa_url or f"http://127.0.0.1:{rasa_port}").rstrip("/"),
        action_port=_port(env, "ACTION_PORT", d.action_port),
        rasa_port=rasa_port,
        tracker_store_url=_url(env, "TRACKER_STORE_URL", d.tracker_store_url or f"sqlite:///{var_dir / 'tracker.db'}"),
        lock_store=_choice(env, "LOCK_STORE", d.lock_store, ("in_memory", "redis")),
        lock_store_host=env.get("LOCK_STORE_HOST", d.lock_store_host),
        web_port=_port(env, "WEB_PORT", d.web_port),
        state_ttl=_seconds(env, "STATE_TTL_SECONDS", d.state_ttl, 0.0, 300.0),
        statuspage_url=_statuspage_url(env),
        statuspage_map=Path(env.get("STATUSPAGE_MAP", str(d.statuspage_map))),
        statuspage_poll=_seconds(env, "STATUSPAGE_POLL_SECONDS", d.statuspage_poll, 1.0, 3600.0),
        statuspage_timeout=_seconds(env, "STATUSPAGE_TIMEOUT_SECONDS", d.statuspage_timeout, 0.1, 60.0),
        statuspage_webhook_secret=_webhook_secret(env, app_env),
        notify_push_channels=frozenset(c.strip() for c in push.split(",") if c.strip()),
        notify_interval=_seconds(env, "NOTIFY_INTERVAL_SECONDS", d.notify_interval, 0.2, 3600.0),
        chat_secret=_secret(env, "CHAT_SECRET", ("production",), app_env),
        action_server_token=_secret(env, "ACTION_SERVER_TOKEN", ("production",), app_env),
        redis_url=_redis_url(env),
        restore_report_limit=_whole(env, "RESTORE_REPORT_LIMIT", d.restore_report_limit, 0, 1_000_000),
        restore_report_window=60.0 * window_minutes,
        escalation_client_limit=_whole(env, "ESCALATION_CLIENT_LIMIT", d.escalation_client_limit, 1, 1_000_000),
        escalation_contact_limit=_whole(env, "ESCALATION_CONTACT_LIMIT", d.escalation_contact_limit, 1, 1_000_000),
        trusted_proxies=_trusted_proxies(env),
    )
