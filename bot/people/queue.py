"""The staff queue at outage scale: filtered, sorted and paged by the database, with totals, a
cheap "what changed" token for the live console, and the customer's honest place and wait.

Every query here is answered from an index of migration 0008: the active rows in queue order
(`ix_escalation_queue`, partial on status), per service, per incident (`escalation_link`), by
last change and by resolution time. Nothing reads the whole table into Python: the old queue
read the 200 oldest rows and sorted those, so past 200 waiting a newer safety case was never
shown (issue 21).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, case, exists, func, select
from sqlalchemy.orm import Session, selectinload

from bot.core.errors import ValidationError
from bot.db.models import (
    Escalation,
    EscalationLink,
    EscalationNote,
    EscalationStatus,
    Incident,
    IncidentStatus,
    Urgency,
)

PAGE_SIZE = 50
SORTS = ("priority", "oldest", "newest")
# The estimate of the wait looks this far back at how fast people closed requests.
RATE_WINDOW = timedelta(hours=2)
# Fewer closed than this in the window: no estimate, say so (a guess would be a promise).
MIN_HANDLED = 3


def is_active() -> ColumnElement[bool]:
    """The predicate of `ix_escalation_queue`, written as the index is, so the planner uses it."""
    return Escalation.status != EscalationStatus.RESOLVED


@dataclass(frozen=True)
class QueueFilter:
    """What staff asked to see. No status: the active ones (open and in progress)."""

    status: EscalationStatus | None = None
    urgency: Urgency | None = None
    service_key: str | None = None
    incident_id: int | None = None
    older_than_minutes: int | None = None
    sort: str = "priority"
    page: int = 1

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValidationError(f"unknown sort {self.sort!r}")
        if not 1 <= self.page <= 1_000_000:
            raise ValidationError("a page number is 1 or more")
        if self.older_than_minutes is not None and not 0 <= self.older_than_minutes <= 10_000_000:
            raise ValidationError("waiting time out of range")


def matching(query: Select[Any], f: QueueFilter, now: datetime) -> Select[Any]:
    """`query` narrowed to the rows `f` selects (its page and sort aside)."""
    query = query.where(Escalation.status == f.status) if f.status else query.where(is_active())
    if f.urgency:
        query = query.where(Escalation.priority == f.urgency.priority)
    if f.service_key:
        query = query.where(Escalation.service_key == f.service_key)
    if f.incident_id is not None:
        linked = select(EscalationLink.escalation_id).where(EscalationLink.incident_id == f.incident_id)
        query = query.where(Escalation.id.in_(linked))
    if f.older_than_minutes is not None:
        query = query.where(Escalation.created_at <= now - timedelta(minutes=f.older_than_minutes))
    return query


_ORDER = {
    "priority": (Escalation.priority, Escalation.created_at, Escalation.id),
    "oldest": (Escalation.created_at, Escalation.id),
    "newest": (Escalation.created_at.desc(), Escalation.id.desc()),
}


@dataclass(frozen=True)
class Totals:
    """Of every active escalation, whatever the filter: what an outage day's lead needs at a glance."""

    waiting: int
    by_urgency: dict[Urgency, int]
    by_service: list[tuple[str | None, int]]
    by_incident: list[tuple[int, str, int]]  # incident id, title, active linked escalations


@dataclass(frozen=True)
class QueuePage:
    rows: list[Escalation]
    matching: int  # rows the filter selects, over all pages
    filter: QueueFilter
    totals: Totals
    page_size: int = PAGE_SIZE
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pages", max(1, math.ceil(self.matching / self.page_size)))


def totals(session: Session) -> Totals:
    by_priority: dict[int, int] = {
        int(p): int(n)
        for p, n in session.execute(
            select(Escalation.priority, func.count()).where(is_active()).group_by(Escalation.priority)
        )
    }
    by_urgency = {u: int(by_priority.get(u.priority, 0)) for u in sorted(Urgency, key=lambda u: u.priority)}
    by_service = [
        (key, int(n))
        for key, n in session.execute(
            select(Escalation.service_key, func.count())
            .where(is_active())
            .group_by(Escalation.service_key)
            .order_by(func.count().desc())
        )
    ]
    by_incident = [
        (int(i), str(t), int(n))
        for i, t, n in session.execute(
            select(Incident.id, Incident.title, func.count(EscalationLink.id))
            .join(EscalationLink, EscalationLink.incident_id == Incident.id)
            .join(Escalation, Escalation.id == EscalationLink.escalation_id)
            .where(is_active())
            .group_by(Incident.id, Incident.title)
            .order_by(Incident.id.desc())
        )
    ]
    return Totals(sum(by_urgency.values()), by_urgency, by_service, by_incident)


def queue_page(session: Session, f: QueueFilter, now: datetime, page_size: int = PAGE_SIZE) -> QueuePage:
    """One page of the queue: most urgent, then longest waiting, first (the default sort)."""
    count = int(session.scalar(matching(select(func.count(Escalation.id)), f, now)) or 0)
    query = (
        matching(select(Escalation), f, now)
        .order_by(*_ORDER[f.sort])
        .offset((f.page - 1) * page_size)
        .limit(page_size)
        .options(selectinload(Escalation.assignee), selectinload(Escalation.links))
    )
    return QueuePage(list(session.scalars(query)), count, f, totals(session), page_size)


def matching_ids(session: Session, f: QueueFilter, now: datetime, limit: int) -> list[int]:
    """The ids "all N matching this filter" means, in queue order, at most `limit`."""
    query = matching(select(Escalation.id), f, now).order_by(*_ORDER[f.sort]).limit(limit)
    return [int(i) for i in session.scalars(query)]


@dataclass(frozen=True)
class Changes:
    """A token that changes whenever a row is added or changed, and the newest waiting safety case."""

    version: str
    waiting: int
    safety_waiting: int
    newest_safety_id: int | None


def changes(session: Session) -> Changes:
    """Four index lookups: cheap enough for every open console to ask every few seconds."""
    last_change = session.scalar(select(func.max(Escalation.updated_at)))
    newest = session.scalar(select(func.max(Escalation.id))) or 0
    waiting = int(session.scalar(select(func.count(Escalation.id)).where(is_active())) or 0)
    safety = select(Escalation.id).where(is_active(), Escalation.priority == Urgency.SAFETY.priority)
    safety_waiting = int(session.scalar(select(func.count()).select_from(safety.subquery())) or 0)
    newest_safety = session.scalar(select(func.max(safety.subquery().c.id)))
    stamp = last_change.isoformat() if last_change else "-"
    return Changes(f"{stamp}/{newest}/{waiting}", waiting, safety_waiting, newest_safety)


# --- the customer's view: place and wait ------------------------------------------------------


@dataclass(frozen=True)
class Wait:
    """Where a customer's request stands. `minutes` is None when too few requests were closed
    recently to estimate honestly."""

    position: int  # 1: next to be picked up
    minutes: int | None
    urgency: Urgency
    window_hours: int = int(RATE_WINDOW.total_seconds() // 3600)


def ahead_of(session: Session, escalation: Escalation) -> int:
    """Active escalations before this one in the default queue order."""
    before = (Escalation.priority < escalation.priority) | (
        (Escalation.priority == escalation.priority)
        & (
            (Escalation.created_at < escalation.created_at)
            | ((Escalation.created_at == escalation.created_at) & (Escalation.id < escalation.id))
        )
    )
    return int(session.scalar(select(func.count(Escalation.id)).where(is_active(), before)) or 0)


def estimate_wait(session: Session, escalation: Escalation, now: datetime) -> Wait:
    """Position, and minutes at the rate people closed requests at this urgency or a more urgent
    one in the last RATE_WINDOW: those are the requests that stand ahead of this one. Requests
    closed because their service came back are not counted; no person's time went into them."""
    position = ahead_of(session, escalation) + 1
    handled = int(
        session.scalar(
            select(func.count(Escalation.id)).where(
                Escalation.priority <= escalation.priority,
                Escalation.resolved_at >= now - RATE_WINDOW,
                Escalation.bulk_closed.is_(False),
            )
        )
        or 0
    )
    if handled < MIN_HANDLED:
        return Wait(position, None, escalation.urgency)
    per_minute = handled / (RATE_WINDOW.total_seconds() / 60)
    return Wait(position, max(1, math.ceil(position / per_minute)), escalation.urgency)


@dataclass(frozen=True)
class Linked:
    """An incident's active linked escalations: how many, and how many a person has worked on."""

    incident_id: int
    title: str
    resolved: bool
    waiting: int
    touched: int


def linked_waiting(session: Session) -> list[Linked]:
    """Every incident, resolved or not, that has active escalations linked to it: the console
    offers to tell and close them once the service is back."""
    worked = (
        (Escalation.assignee_id.is_not(None))
        | (Escalation.status == EscalationStatus.IN_PROGRESS)
        | exists().where(EscalationNote.escalation_id == Escalation.id, EscalationNote.kind.in_(("note", "reply")))
    )
    rows = session.execute(
        select(
            Incident.id,
            Incident.title,
            Incident.status,
            func.count(Escalation.id),
            func.sum(case((worked, 1), else_=0)),
        )
        .join(EscalationLink, EscalationLink.incident_id == Incident.id)
        .join(Escalation, Escalation.id == EscalationLink.escalation_id)
        .where(is_active())
        .group_by(Incident.id, Incident.title, Incident.status)
        .order_by(Incident.id.desc())
    ).all()
    return [Linked(int(i), str(t), s is IncidentStatus.RESOLVED, int(n), int(w or 0)) for i, t, s, n, w in rows]
