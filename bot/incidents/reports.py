"""Customers' reports that a service the store marks restored still fails for them.

The figure staff see is of distinct customers, and it must not be forgeable (issue 20):

- one report per conversation (the contact, on SMS, WhatsApp, Messenger and Telegram) and
  service per incident counts; asking again changes nothing;
- only a service an incident affected can be reported (the action checks), never one that
  was not down;
- at most COUNTED_PER_CLIENT reports an hour from one address (web chat) count. The rest are
  kept, marked not counted, and shown apart: a carrier's shared address still shows up,
  while one client minting conversations cannot move the figure.

Operators see the counts in the console, and a service with more than RESTORE_REPORT_LIMIT
customers in RESTORE_REPORT_WINDOW_MINUTES is flagged on the incidents page: the fix may not
have fully worked.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bot.db.locks import one_at_a_time
from bot.db.models import RestoreReport, Service

COUNTED_PER_CLIENT = 5
CLIENT_WINDOW = timedelta(hours=1)


class Outcome(str, enum.Enum):
    COUNTED = "counted"
    HELD = "held"  # stored, not counted: too many from one address this hour
    REPEAT = "repeat"  # this customer already reported this service for this incident


def report_still_broken(
    session: Session,
    conversation_id: str,
    channel: str,
    service_key: str,
    incident_id: int,
    now: datetime,
    client_key: str | None = None,
) -> Outcome:
    """Record that `service_key`, restored by incident `incident_id`, still fails for this customer."""
    earlier = session.scalar(
        select(RestoreReport.id).where(
            RestoreReport.conversation_id == conversation_id[:128],
            RestoreReport.service_key == service_key,
            RestoreReport.incident_id == incident_id,
        )
    )
    if earlier is not None:
        return Outcome.REPEAT
    if client_key is not None:
        one_at_a_time(session, f"restore_report:{client_key}")
    report = RestoreReport(
        service_key=service_key,
        conversation_id=conversation_id[:128],
        channel=channel[:32],
        reported_at=now,
        incident_id=incident_id,
        client_key=client_key,
        counted=True,
    )
    session.add(report)
    session.flush()  # written first, counted after (bot.db.locks): one client's burst cannot overshoot
    if client_key is not None:
        counted_now = session.scalar(
            select(func.count(RestoreReport.id)).where(
                RestoreReport.client_key == client_key,
                RestoreReport.reported_at > now - CLIENT_WINDOW,
                RestoreReport.counted.is_(True),
            )
        )
        if (counted_now or 0) > COUNTED_PER_CLIENT:
            report.counted = False
            session.flush()
    counted = report.counted
    return Outcome.COUNTED if counted else Outcome.HELD


@dataclass(frozen=True)
class ReportCount:
    service_key: str
    service_name: str
    count: int  # distinct customers whose reports count
    first_at: datetime
    last_at: datetime
    held: int = 0  # reports kept but not counted (too many from one address)


def report_counts(session: Session, since: datetime) -> list[ReportCount]:
    """Per service, most reported first: how many customers' reports count since `since`, how
    many more were held back, and when."""
    customers = func.count(func.distinct(case((RestoreReport.counted.is_(True), RestoreReport.conversation_id))))
    held = func.sum(case((RestoreReport.counted.is_(True), 0), else_=1))
    rows = session.execute(
        select(
            RestoreReport.service_key,
            func.coalesce(Service.name, RestoreReport.service_key),
            customers,
            func.min(RestoreReport.reported_at),
            func.max(RestoreReport.reported_at),
            held,
        )
        .outerjoin(Service, Service.key == RestoreReport.service_key)
        .where(RestoreReport.reported_at >= since)
        .group_by(RestoreReport.service_key, Service.name)
        .order_by(customers.desc(), RestoreReport.service_key)
    ).all()
    return [ReportCount(key, name, int(n), first, last, int(h or 0)) for key, name, n, first, last, h in rows]


def flagged(session: Session, now: datetime, limit: int, window: timedelta) -> list[ReportCount]:
    """Services with more than `limit` reports within `window`: the fix may not have worked."""
    return [c for c in report_counts(session, now - window) if c.count > limit]
