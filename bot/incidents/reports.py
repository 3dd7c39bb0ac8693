"""Customers' reports that a service the store marks restored still fails for them.

One report per conversation and service a day counts, so one customer asking again does not
look like many. Operators see the counts in the console, and a service with more than
RESTORE_REPORT_LIMIT reports in RESTORE_REPORT_WINDOW_MINUTES is flagged on the incidents page:
the fix may not have fully worked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.models import RestoreReport, Service

SAME_CUSTOMER = timedelta(days=1)


def report_still_broken(session: Session, conversation_id: str, channel: str, service_key: str, now: datetime) -> bool:
    """Record the report; False if this conversation already reported this service today."""
    earlier = session.scalar(
        select(RestoreReport.id).where(
            RestoreReport.conversation_id == conversation_id,
            RestoreReport.service_key == service_key,
            RestoreReport.reported_at > now - SAME_CUSTOMER,
        )
    )
    if earlier is not None:
        return False
    session.add(
        RestoreReport(
            service_key=service_key, conversation_id=conversation_id[:128], channel=channel[:32], reported_at=now
        )
    )
    session.flush()
    return True


@dataclass(frozen=True)
class ReportCount:
    service_key: str
    service_name: str
    count: int
    first_at: datetime
    last_at: datetime


def report_counts(session: Session, since: datetime) -> list[ReportCount]:
    """Per service, most reported first: how many reports since `since`, and when."""
    rows = session.execute(
        select(
            RestoreReport.service_key,
            func.coalesce(Service.name, RestoreReport.service_key),
            func.count(RestoreReport.id),
            func.min(RestoreReport.reported_at),
            func.max(RestoreReport.reported_at),
        )
        .outerjoin(Service, Service.key == RestoreReport.service_key)
        .where(RestoreReport.reported_at >= since)
        .group_by(RestoreReport.service_key, Service.name)
        .order_by(func.count(RestoreReport.id).desc(), RestoreReport.service_key)
    ).all()
    return [ReportCount(key, name, int(n), first, last) for key, name, n, first, last in rows]


def flagged(session: Session, now: datetime, limit: int, window: timedelta) -> list[ReportCount]:
    """Services with more than `limit` reports within `window`: the fix may not have worked."""
    return [c for c in report_counts(session, now - window) if c.count > limit]
