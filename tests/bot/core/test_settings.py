"""Settings read the environment and .env, and fail fast on bad or placeholder values."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from bot.core.errors import ConfigurationError
from bot.core.settings import PUSH_CHANNELS, Settings, load_settings

NO_FILE = Path("/nonexistent/.env")


def test_defaults_are_embedded_sqlite_and_auckland(tmp_path: Path) -> None:
    s = load_settings({"VAR_DIR": str(tmp_path)}, dotenv_path=NO_FILE)
    assert s.database_url == f"sqlite:///{tmp_path / 'outage.db'}"
    assert s.tracker_store_url == f"sqlite:///{tmp_path / 'tracker.db'}"
    assert s.timezone == "Pacific/Auckland" and s.is_development
    assert s.lock_store == "in_memory"


def test_with_nothing_set_every_setting_is_its_one_written_default() -> None:
    """The defaults are written once, on Settings; load_settings reads them from there."""
    loaded, written = load_settings({}, dotenv_path=NO_FILE), Settings()
    derived = {"database_url", "tracker_store_url", "rasa_url"}  # from var_dir and rasa_port
    for field in fields(Settings):
        if field.name not in derived:
            assert getattr(loaded, field.name) == getattr(written, field.name), field.name
    assert loaded.rasa_url == "http://127.0.0.1:5005"
    assert loaded.notify_push_channels == frozenset(PUSH_CHANNELS)


def test_environment_beats_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TIMEZONE=Europe/London\nRASA_PORT=6000\n", encoding="utf-8")
    s = load_settings({"RASA_PORT": "7000"}, dotenv_path=env_file)
    assert s.timezone == "Europe/London" and s.rasa_port == 7000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"APP_ENV": "prod"}, "APP_ENV"),
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"RASA_PORT": "eighty"}, "whole number"),
        ({"RASA_PORT": "70000"}, "port number"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"LOCK_STORE": "memcached"}, "LOCK_STORE"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"RESTORE_REPORT_LIMIT": "many"}, "RESTORE_REPORT_LIMIT"),
        ({"RESTORE_REPORT_LIMIT": "-1"}, "RESTORE_REPORT_LIMIT"),
        ({"RESTORE_REPORT_WINDOW_MINUTES": "0"}, "RESTORE_REPORT_WINDOW_MINUTES"),
        ({"TRUSTED_PROXIES": "haproxy"}, "TRUSTED_PROXIES"),
        ({"TRUSTED_PROXIES": "10.0.0.1,*"}, "TRUSTED_PROXIES"),
    ],
)
def test_bad_values_fail_fast(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(env, dotenv_path=NO_FILE)


@pytest.mark.parametrize("token", ["", "change-me", "CHANGEME", "secret"])
def test_placeholder_token_refused_outside_development(token: str) -> None:
    with pytest.raises(ConfigurationError, match="RASA_AUTH_TOKEN"):
        load_settings({"APP_ENV": "production", "RASA_AUTH_TOKEN": token}, dotenv_path=NO_FILE)


def test_real_token_accepted_in_production() -> None:
    env = {
        "APP_ENV": "production",
        "RASA_AUTH_TOKEN": "k3J9x-long-random",
        "CHAT_SECRET": "q8-also-long-random",
        "ACTION_SERVER_TOKEN": "w2-a-third-long-random",
    }
    s = load_settings(env, dotenv_path=NO_FILE)
    assert s.rasa_auth_token == "k3J9x-long-random" and s.chat_secret == "q8-also-long-random"
    assert s.action_server_token == "w2-a-third-long-random"


def test_production_needs_an_action_server_token() -> None:
    env = {"APP_ENV": "production", "RASA_AUTH_TOKEN": "k3J9x-long-random", "CHAT_SECRET": "q8-also-long-random"}
    with pytest.raises(ConfigurationError, match="ACTION_SERVER_TOKEN"):
        load_settings(env, dotenv_path=NO_FILE)


def test_production_needs_a_chat_secret() -> None:
    with pytest.raises(ConfigurationError, match="CHAT_SECRET"):
        load_settings({"APP_ENV": "production", "RASA_AUTH_TOKEN": "k3J9x-long-random"}, dotenv_path=NO_FILE)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STATE_TTL_SECONDS": "soon"}, "STATE_TTL_SECONDS"),
        ({"STATE_TTL_SECONDS": "-1"}, "between"),
        ({"STATUSPAGE_URL": "ftp://status"}, "STATUSPAGE_URL"),
        ({"STATUSPAGE_POLL_SECONDS": "0"}, "between"),
        ({"WEB_PORT": "0"}, "port number"),
        (
            {"APP_ENV": "production", "RASA_AUTH_TOKEN": "a" * 40, "STATUSPAGE_WEBHOOK_SECRET": "changeme"},
            "placeholder",
        ),
    ],
)
def test_live_state_settings_fail_fast(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(env, dotenv_path=NO_FILE)


def test_live_state_defaults(tmp_path: Path) -> None:
    s = load_settings({"VAR_DIR": str(tmp_path), "RASA_PORT": "6006"}, dotenv_path=NO_FILE)
    assert s.web_port == 8000 and s.state_ttl == 5.0 and s.statuspage_url is None
    assert s.rasa_url == "http://127.0.0.1:6006"  # the notifier follows RASA_PORT
    assert "telegram" in s.notify_push_channels and "rest" not in s.notify_push_channels


def test_social_channels_are_written_only_when_configured(tmp_path: Path) -> None:
    import yaml

    from bot.core.errors import ConfigurationError as Refused
    from bot.ops.servers import write_credentials

    settings = load_settings({"VAR_DIR": str(tmp_path)}, dotenv_path=NO_FILE)
    plain = yaml.safe_load(write_credentials(settings, {}).read_text(encoding="utf-8"))
    assert plain == {"rasa_plugins.inputs.SafeRestInput": None}
    env = {
        "TWILIO_ACCOUNT_SID": "AC1",
        "TWILIO_AUTH_TOKEN": "t",
        "TWILIO_NUMBER": "+64",
        "TWILIO_WEBHOOK_URL": "https://x/w",
    }
    twilio = yaml.safe_load(write_credentials(settings, env).read_text(encoding="utf-8"))
    assert twilio["rasa_plugins.channels.SignedTwilioInput"]["webhook_url"] == "https://x/w"
    with pytest.raises(Refused, match="TELEGRAM_SECRET_TOKEN"):
        write_credentials(
            settings, {"TELEGRAM_ACCESS_TOKEN": "1:a", "TELEGRAM_VERIFY": "b", "TELEGRAM_WEBHOOK_URL": "u"}
        )


def test_redis_is_optional_and_taken_as_given() -> None:
    assert load_settings({}, dotenv_path=NO_FILE).redis_url is None
    url = "redis://cache.internal:6379/0"
    assert load_settings({"REDIS_URL": url}, dotenv_path=NO_FILE).redis_url == url


def test_the_restore_report_window_is_read_in_minutes() -> None:
    settings = load_settings({"RESTORE_REPORT_LIMIT": "3", "RESTORE_REPORT_WINDOW_MINUTES": "30"}, dotenv_path=NO_FILE)
    assert (settings.restore_report_limit, settings.restore_report_window) == (3, 1800.0)


def test_no_proxy_is_trusted_unless_named() -> None:
    assert load_settings({}, dotenv_path=NO_FILE).trusted_proxies == ()
    named = load_settings({"TRUSTED_PROXIES": " 10.0.0.5, 10.1.0.0/16 ,"}, dotenv_path=NO_FILE)
    assert named.trusted_proxies == ("10.0.0.5", "10.1.0.0/16")
