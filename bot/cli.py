"""Operator command line: migrate, load or reset scenarios, inspect and resolve incidents.

python -m bot.cli migrate
python -m bot.cli seed [--scenario outage_day_two] [--if-empty]
python -m bot.cli reset            # no incidents at all
python -m bot.cli status
python -m bot.cli resolve ID --message "Everything is back."
python -m bot.cli token create NAME   # an admin API token, printed once
python -m bot.cli token revoke NAME
python -m bot.cli token list
python -m bot.cli staff create NAME --role admin   # a console account; the password is read from stdin
python -m bot.cli staff list
python -m bot.cli review export [--out data/nlu/reviewed.yml]   # staff-labelled messages as NLU data
python -m bot.cli review stats
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from bot import operators, review, staff
from bot.db import make_engine, make_session_factory
from bot.errors import OutageAssistantError, ValidationError
from bot.incidents import resolve_incident
from bot.knowledge import load_knowledge
from bot.migrate import upgrade
from bot.models import StaffRole, StaffUser
from bot.seed import is_empty, load_scenario, scenario_path
from bot.settings import load_settings
from bot.status import read_overview
from bot.store import utcnow
from bot.timefmt import format_when


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the database schema")
    seed = sub.add_parser("seed", help="replace all incidents with a scenario")
    seed.add_argument("--scenario", default="outage_day_two", help="a name under bot/scenarios/ or a YAML path")
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
    review_cmd = sub.add_parser("review", help="customer messages labelled by staff in the console")
    review_cmd.add_argument("action", choices=("export", "stats"))
    review_cmd.add_argument("--out", help="write the Rasa NLU file here instead of to stdout")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        engine = make_engine(settings.database_url)
        upgrade(engine)
        sessions = make_session_factory(engine)
        now = utcnow()
        if args.command == "migrate":
            print("database schema is up to date")
        elif args.command in ("seed", "reset"):
            name = "all_clear" if args.command == "reset" else args.scenario
            with sessions.begin() as session:
                if args.command == "seed" and args.if_empty and not is_empty(session):
                    print("database already holds data; left as it is")
                    return 0
                knowledge = load_knowledge(settings.knowledge_file)
                ids = load_scenario(session, scenario_path(name), knowledge, now=now, tz=settings.tz)
            print(f"loaded scenario {name!r}: {len(ids)} incident(s)")
        elif args.command == "status":
            with sessions() as session:
                ov = read_overview(session, now)
            if not ov.incidents:
                print("no active incidents")
            for inc in ov.incidents:
                print(f"#{inc.id} [{inc.status.value}/{inc.impact.value}] {inc.title}")
                print(f"   since {format_when(inc.started_at, now, settings.tz)}")
                if inc.next_update_at:
                    print(f"   next update {format_when(inc.next_update_at, now, settings.tz)}")
            for state in ov.services:
                print(f"  {state.key:15} {state.status.value:22} {state.kind.value}")
        elif args.command == "resolve":
            with sessions.begin() as session:
                resolve_incident(session, args.incident_id, message=args.message, now=now)
                operators.record(
                    session,
                    actor=cli_actor(),
                    action="resolve",
                    now=now,
                    incident_id=args.incident_id,
                    detail={"message": args.message},
                )
            print(f"incident #{args.incident_id} resolved")
        elif args.command == "staff":
            with sessions.begin() as session:
                if args.action == "create":
                    password = read_password()
                    staff.create_user(session, args.name, password, StaffRole(args.role), now)
                    operators.record(
                        session,
                        actor=cli_actor(),
                        action="staff_create",
                        now=now,
                        detail={"name": args.name, "role": args.role},
                    )
                    print(f"{args.role} account {args.name.strip().lower()!r} created")
                else:
                    for user in session.scalars(select(StaffUser).order_by(StaffUser.username)):
                        print(f"{user.username:30} {user.role.value:6} {'disabled' if user.disabled else 'active'}")
        elif args.command == "token":
            with sessions.begin() as session:
                if args.action == "create":
                    secret = operators.create_token(session, args.name, now)
                    operators.record(
                        session, actor=cli_actor(), action="token_create", now=now, detail={"name": args.name}
                    )
                    print(f"token for {args.name!r} (shown once; store it now):\n{secret}")
                elif args.action == "revoke":
                    operators.revoke_token(session, args.name, now)
                    operators.record(
                        session, actor=cli_actor(), action="token_revoke", now=now, detail={"name": args.name}
                    )
                    print(f"token {args.name!r} revoked")
                else:
                    for row in operators.list_tokens(session):
                        active = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
                        print(f"{row.name:40} created {row.created_at:%Y-%m-%d %H:%M}  {active}")
        elif args.command == "review":
            with sessions() as session:
                if args.action == "stats":
                    counts = review.label_counts(session)
                    for intent, count in counts.items():
                        print(f"{intent:20} {count}")
                    print(f"{sum(counts.values())} labelled message(s)")
                elif args.out:
                    write_text(Path(args.out), review.export_yaml(session))
                    print(f"wrote {sum(review.label_counts(session).values())} example(s) to {args.out}")
                else:
                    sys.stdout.write(review.export_yaml(session))
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
