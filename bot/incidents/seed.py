"""Load demo scenarios (YAML under bot/incidents/scenarios/) into the incident store."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.core.errors import ValidationError
from bot.db.models import Impact, Incident, IncidentStatus, Service, ServiceStatus
from bot.incidents.writes import create_incident, post_update, resolve_incident, sync_catalogue
from bot.knowledge.file import Knowledge

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
_WHEN = re.compile(r"^\s*(now|last\s+(\d{1,2}):(\d{2}))\s*(?:([+-])\s*((?:\d+[dhm])+))?\s*$")
_PART = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_when(expr: str, now: datetime, tz: ZoneInfo) -> datetime:
    """'now-1h30m', 'now+2h', 'last 08:00', 'last 08:00 -25h' relative to `now` in `tz`."""
    match = _WHEN.match(str(expr))
    if not match:
        raise ValidationError(f"cannot read time expression {expr!r}")
    if match.group(1) == "now":
        base = now
    else:
        hour, minute = int(match.group(2)), int(match.group(3))
        if hour > 23 or minute > 59:
            raise ValidationError(f"no such clock time in {expr!r}")
        local_now = now.astimezone(tz)
        base = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if base > local_now:
            base -= timedelta(days=1)
    if match.group(4):
        delta = timedelta(**{_UNITS[u]: int(n) for n, u in _PART.findall(match.group(5))})
        base = base + delta if match.group(4) == "+" else base - delta
    return base


def scenario_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yml", ".yaml") and path.is_file():
        return path
    candidate = SCENARIOS / f"{name_or_path}.yml"
    if not candidate.is_file():
        names = ", ".join(sorted(p.stem for p in SCENARIOS.glob("*.yml")))
        raise ValidationError(f"no scenario {name_or_path!r}; available: {names}")
    return candidate


def is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Service)) and not session.scalar(
        select(func.count()).select_from(Incident)
    )


def load_scenario(
    session: Session, path: Path, knowledge: Knowledge, *, now: datetime, tz: ZoneInfo, actor: str
) -> list[int]:
    """Replace every incident with the scenario's; returns the new incident ids."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read scenario {path.name}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("incidents"), list):
        raise ValidationError(f"{path.name}: expected a mapping with an 'incidents' list")
    try:
        return _load(session, data, path.name, knowledge, now=now, tz=tz, actor=actor)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A hand-edited scenario with a missing field or a bad value: name it, don't crash.
        raise ValidationError(f"{path.name}: {exc.__class__.__name__}: {exc}") from exc


def _load(
    session: Session,
    data: dict[str, Any],
    name: str,
    knowledge: Knowledge,
    *,
    now: datetime,
    tz: ZoneInfo,
    actor: str,
) -> list[int]:
    session.execute(delete(Incident))
    # The bulk delete bypasses the identity map; drop what it still holds so ids can be reused.
    session.expunge_all()
    sync_catalogue(session, knowledge)
    session.flush()
    ids = []
    for spec in data["incidents"]:
        updates = sorted(
            ({**u, "at": parse_when(u["at"], now, tz)} for u in spec.get("updates") or []),
            key=lambda u: u["at"],
        )
        if not updates:
            raise ValidationError(f"{name}: incident {spec.get('title')!r} needs at least one update")
        first, rest = updates[0], updates[1:]
        incident = create_incident(
            session,
            title=spec["title"],
            message=first["message"],
            now=now,
            status=IncidentStatus(first.get("status", "investigating")),
            impact=Impact(spec.get("impact", "major")),
            started_at=parse_when(spec["started_at"], now, tz),
            impacts={k: ServiceStatus(v) for k, v in (spec.get("impacts") or {}).items()},
            cause=spec.get("cause"),
            actor=actor,
        )
        next_update = parse_when(spec["next_update_at"], now, tz) if spec.get("next_update_at") else None
        for i, update in enumerate(rest):
            last = i == len(rest) - 1
            post_update(
                session,
                incident.id,
                message=update["message"],
                now=now,
                posted_at=update["at"],
                status=IncidentStatus(update.get("status", incident.status.value)),
                service_keys=update.get("services") or [],
                next_update_at=next_update if last else None,
                actor=actor,
            )
        if not rest and next_update is not None:
            incident.next_update_at = next_update
        if spec.get("resolved_at"):
            resolve_incident(
                session,
                incident.id,
                message=spec.get("resolution", "Resolved."),
                now=now,
                resolved_at=parse_when(spec["resolved_at"], now, tz),
                actor=actor,
            )
        ids.append(incident.id)
    session.flush()
    return ids
