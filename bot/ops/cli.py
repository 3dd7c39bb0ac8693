"""Operator command line: migrate, load or reset scenarios, inspect and resolve incidents.

python -m bot.ops.cli migrate
python -m bot.ops.cli seed [--scenario outage_day_two] [--if-empty]
python -m bot.ops.cli reset            # no incidents at all
python -m bot.ops.cli status
python -m bot.ops.cli resolve ID --message "Everything is back."
python -m bot.ops.cli token create NAME   # an admin API token, printed once
python -m bot.ops.cli token revoke NAME
python -m bot.ops.cli token list
python -m bot.ops.cli staff create NAME --role admin [--display-name Sam]   # password read from stdin
python -m bot.ops.cli staff list
python -m bot.ops.cli review export [--out data/nlu/reviewed.yml]   # staff-labelled messages as NLU data
python -m bot.ops.cli review stats
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.conversation import review
from bot.core.clock import utcnow
from bot.core.errors import OutageAssistantError, ValidationError
from bot.core.settings import Settings, load_settings
from bot.core.timefmt import format_when
from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade
from bot.db.models import StaffRole, StaffUser
from bot.incidents.reads import read_overview
from bot.incidents.seed import is_empty, load_scenario, scenario_path
from bot.incidents.writes import resolve_incident
from bot.knowledge.file import load_knowledge
from bot.people import operators, staff


def read_password() -> str:
    """From a terminal prompt, or the first line of stdin (for scripts)."""
    if sys.stdin.isatty():
        first = getpass.getpass("password (at least 12 characters): ")
        if getpass.getpass("again: ") != first:
            raise ValidationError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def cli_actor() -> str:
    """Who ran the command, for the audit trail."""
    return f"cli:{getpass.getuser()}"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.ops.cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the database schema")
    seed = sub.add_parser("seed", help="replace all incidents with a scenario")
    seed.add_argument(
        "--scenario", default="outage_day_two", help="a name under bot/incidents/scenarios/ or a YAML path"
    )
    seed.add_argument("--if-empty", action="store_true", help="only when the database holds nothing yet")
    sub.add_parser("reset", help="remove every incident (all services operational)")
    sub.add_parser("status", help="print the current incident state")
    resolve = sub.add_parser("resolve", help="resolve an incident")
    resolve.add_argument("incident_id", type=int)
    resolve.add_argument("--message", required=True)
    token = sub.add_parser("token", help="admin API tokens")
    token.add_argument("action", choices=("create", "revoke", "list"))
    token.add_argument("name", nargs="?", default="", help="who the token is for, e.g. an operator's name")
    people = sub.add_parser("staff", help="staff console accounts")
    people.add_argument("action", choices=("create", "list"))
    people.add_argument("name", nargs="?", default="")
    people.add_argument("--role", choices=[r.value for r in StaffRole], default=StaffRole.AGENT.value)
    people.add_argument("--display-name", default="", help='how customers see their replies, e.g. "Sam"')
    review_cmd = sub.add_parser("review", help="customer messages labelled by staff in the console")
    review_cmd.add_argument("action", choices=("export", "stats"))
    review_cmd.add_argument("--out", help="write the Rasa NLU file here instead of to stdout")
    return parser


@dataclass(frozen=True)
class Run:
    """What every command gets: its arguments, the settings, sessions on a migrated store, now."""

    args: argparse.Namespace
    settings: Settings
    sessions: sessionmaker[Session]
    now: datetime


def migrate(run: Run) -> None:
    print("database schema is up to date")


def seed(run: Run) -> None:
    name = "all_clear" if run.args.command == "reset" else run.args.scenario
    with run.sessions.begin() as session:
        if run.args.command == "seed" and run.args.if_empty and not is_empty(session):
            print("database already holds data; left as it is")
            return
        knowledge = load_knowledge(run.settings.knowledge_file)
        path = scenario_path(name)
        ids = load_scenario(session, path, knowledge, now=run.now, tz=run.settings.tz, actor=cli_actor())
    print(f"loaded scenario {name!r}: {len(ids)} incident(s)")


def status(run: Run) -> None:
    with run.sessions() as session:
        ov = read_overview(session, run.now)
    if not ov.incidents:
        print("no active incidents")
    for inc in ov.incidents:
        print(f"#{inc.id} [{inc.status.value}/{inc.impact.value}] {inc.title}")
        print(f"   since {format_when(inc.started_at, run.now, run.settings.tz)}")
        if inc.next_update_at:
            print(f"   next update {format_when(inc.next_update_at, run.now, run.settings.tz)}")
    for state in ov.services:
        print(f"  {state.key:15} {state.status.value:22} {state.kind.value}")


def resolve(run: Run) -> None:
    with run.sessions.begin() as session:
        resolve_incident(session, run.args.incident_id, message=run.args.message, now=run.now, actor=cli_actor())
    print(f"incident #{run.args.incident_id} resolved")


def staff_accounts(run: Run) -> None:
    args = run.args
    with run.sessions.begin() as session:
        if args.action == "create":
            password = read_password()
            role, name = StaffRole(args.role), args.display_name
            staff.create_user(session, args.name, password, role, run.now, actor=cli_actor(), display_name=name)
            print(f"{args.role} account {args.name.strip().lower()!r} created")
            return
        for user in session.scalars(select(StaffUser).order_by(StaffUser.username)):
            state = "disabled" if user.disabled else "active"
            print(f"{user.username:30} {user.role.value:6} {state:8} {user.shown_name}")


def tokens(run: Run) -> None:
    args = run.args
    with run.sessions.begin() as session:
        if args.action == "create":
            secret = operators.create_token(session, args.name, run.now, actor=cli_actor())
            print(f"token for {args.name!r} (shown once; store it now):\n{secret}")
        elif args.action == "revoke":
            operators.revoke_token(session, args.name, run.now, actor=cli_actor())
            print(f"token {args.name!r} revoked")
        else:
            for row in operators.list_tokens(session):
                active = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
                print(f"{row.name:40} created {row.created_at:%Y-%m-%d %H:%M}  {active}")


def labels(run: Run) -> None:
    with run.sessions() as session:
        if run.args.action == "stats":
            counts = review.label_counts(session)
            for intent, count in counts.items():
                print(f"{intent:20} {count}")
            print(f"{sum(counts.values())} labelled message(s)")
        elif run.args.out:
            write_text(Path(run.args.out), review.export_yaml(session))
            print(f"wrote {sum(review.label_counts(session).values())} example(s) to {run.args.out}")
        else:
            sys.stdout.write(review.export_yaml(session))


COMMANDS: dict[str, Callable[[Run], None]] = {
    "migrate": migrate,
    "seed": seed,
    "reset": seed,
    "status": status,
    "resolve": resolve,
    "staff": staff_accounts,
    "token": tokens,
    "review": labels,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
        engine = make_engine(settings.database_url)
        upgrade(engine)
        COMMANDS[args.command](Run(args, settings, make_session_factory(engine), utcnow()))
    except OutageAssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def write_text(path: Path, content: str) -> None:
    """Whole or not at all: a half-written training file would break the next `rasa train`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(content, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise ValidationError(f"cannot write {path}: {exc.strerror}") from exc


if __name__ == "__main__":
    sys.exit(main())
