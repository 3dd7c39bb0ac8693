"""Start the whole assistant: migrate and seed the store, then the action server, the web app
(admin API, webhooks, health, status-page sync), the notifier and Rasa, and keep them
running: a server that exits is started again (bot.ops.supervise) while the others serve.

`make run` calls this. Ctrl-C (or SIGTERM) stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import sys

from bot.core.clock import utcnow
from bot.core.devsecrets import rasa_token
from bot.core.errors import OutageAssistantError
from bot.core.logs import configure_logging
from bot.core.settings import Settings, load_settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade
from bot.db.models import StaffRole
from bot.incidents.seed import is_empty, load_scenario, scenario_path
from bot.knowledge.file import load_knowledge
from bot.ops.servers import Servers, keep_private
from bot.ops.supervise import run_until_stopped
from bot.people.staff import count_staff, create_user


def prepare_store(settings: Settings) -> bool:
    """Migrate; load the demo outage into an empty database. Returns whether it seeded."""
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        with make_session_factory(engine).begin() as session:
            if not is_empty(session):
                return False
            knowledge = load_knowledge(settings.knowledge_file)
            load_scenario(
                session, scenario_path("outage_day_two"), knowledge, now=utcnow(), tz=settings.tz, actor="make run"
            )
            return True
    finally:
        engine.dispose()


def demo_accounts(settings: Settings) -> list[tuple[str, str, str]]:
    """In development, console accounts to try the console with: created once with random
    passwords, kept in var/console-accounts (readable by you only) and printed at each start."""
    path = settings.var_dir / "console-accounts"
    if not settings.is_development:
        return []
    if path.is_file():
        lines = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
        return [(a, b, c) for a, b, c in lines]
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine).begin() as session:
            if count_staff(session):
                return []  # real accounts exist; make no demo ones
            accounts = [(name, role.value, secrets.token_urlsafe(12)) for name, role in DEMO_ACCOUNTS]
            for name, role, password in accounts:
                create_user(session, name, password, StaffRole(role), utcnow(), actor="make run")
    finally:
        engine.dispose()
    path.write_text("".join(f"{n}\t{r}\t{p}\n" for n, r, p in accounts), encoding="utf-8")
    path.chmod(0o600)
    return accounts


DEMO_ACCOUNTS = (("admin", StaffRole.ADMIN), ("agent", StaffRole.AGENT))


def main() -> int:
    configure_logging()
    try:
        settings = load_settings()
        keep_private(settings.var_dir)
        servers = Servers(settings=settings, env=dict(os.environ), token=rasa_token(settings))
        if prepare_store(settings):
            print("Loaded the demo outage (day two). Reload it any time with: make reset-demo", flush=True)
        accounts = demo_accounts(settings)
    except OutageAssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def start() -> list[Servers]:
        if settings.statuspage_url is None and os.environ.get("STATUSPAGE_DEMO") == "1":
            folder = settings.var_dir / "statuspage"
            url = servers.start_status_page(folder, port=settings.web_port + 1, demo=True)
            servers.env["STATUSPAGE_URL"] = url
            print(f"Local demo status page: {url}/api/v2/summary.json (edit the files in {folder})", flush=True)
        servers.start_actions()
        servers.start_web()
        servers.start_notifier()
        servers.start_rasa()
        token_hint = "RASA_AUTH_TOKEN" if settings.rasa_auth_token else str(settings.var_dir / "rasa-token")
        print(
            "\nOutage Assistant is running.\n"
            "  Chat in another terminal:  make shell\n"
            f"  Or with curl:              curl -s localhost:{settings.rasa_port}/webhooks/rest/webhook "
            '-d \'{"sender": "me", "message": "my top up failed"}\'\n'
            f"  Rasa HTTP API token:       {token_hint}\n"
            f"  Admin API (operators):     http://127.0.0.1:{settings.web_port}/docs  "
            "(token: python -m bot.ops.cli token create NAME)\n"
            f"  Health of each source:     http://127.0.0.1:{settings.web_port}/health\n"
            f"  Staff console:             http://127.0.0.1:{settings.web_port}/console\n"
            + "".join(f"    {role:5} login: {name} / {password}\n" for name, role, password in accounts)
            + "  Stop:                      Ctrl-C\n",
            flush=True,
        )
        return [servers]

    return run_until_stopped(start, servers.stop_all)


if __name__ == "__main__":
    sys.exit(main())
