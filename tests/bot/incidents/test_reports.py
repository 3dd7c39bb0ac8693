"""Reports that a restored service still fails: one per customer and incident, and at most a
handful an hour from one address in the figure staff see, the rest kept and shown apart."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.incidents.reports import COUNTED_PER_CLIENT, Outcome, flagged, report_counts, report_still_broken
from tests.conftest import NOW


def test_one_customer_counts_once_per_incident(session: Session, demo: int) -> None:
    assert report_still_broken(session, "c1", "webchat", "voicemail", demo, NOW) is Outcome.COUNTED
    assert report_still_broken(session, "c1", "webchat", "voicemail", demo, NOW + timedelta(days=2)) is Outcome.REPEAT
    assert report_still_broken(session, "c1", "webchat", "voicemail", demo + 1000, NOW) is Outcome.COUNTED
    assert report_still_broken(session, "c1", "webchat", "email", demo, NOW) is Outcome.COUNTED


def test_a_flood_from_one_address_moves_the_figure_by_a_handful(session: Session, demo: int) -> None:
    outcomes = [
        report_still_broken(session, f"fresh-{i}", "webchat", "voicemail", demo, NOW, "a" * 16) for i in range(100)
    ]
    assert outcomes.count(Outcome.COUNTED) == COUNTED_PER_CLIENT and outcomes.count(Outcome.HELD) == 95
    report_still_broken(session, "someone-else", "webchat", "voicemail", demo, NOW, "b" * 16)
    report_still_broken(session, "on-sms", "twilio", "voicemail", demo, NOW)  # no address: the contact is the key
    (counts,) = report_counts(session, NOW - timedelta(hours=1))
    assert (counts.count, counts.held) == (COUNTED_PER_CLIENT + 2, 95)
    assert flagged(session, NOW, limit=5, window=timedelta(hours=1)) == [counts]
    later = NOW + timedelta(hours=1, seconds=1)  # the address's hour is over
    assert report_still_broken(session, "next-hour", "webchat", "voicemail", demo, later, "a" * 16) is Outcome.COUNTED


def test_a_concurrent_burst_from_one_address_counts_at_most_the_limit(engine: Engine, demo: int) -> None:
    """Eight at a time, each its own transaction: written first and counted after, so two
    reports cannot both see room for one more."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import func, select

    from bot.db.engine import make_session_factory
    from bot.db.models import RestoreReport

    sessions = make_session_factory(engine)

    def one(i: int) -> None:
        with sessions.begin() as s:
            report_still_broken(s, f"burst-{i}", "webchat", "email", demo, NOW, "e" * 16)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(40)))
    with sessions() as s:
        counted = s.scalar(select(func.count(RestoreReport.id)).where(RestoreReport.counted.is_(True)))
        kept = s.scalar(select(func.count(RestoreReport.id)))
    assert (counted, kept) == (COUNTED_PER_CLIENT, 40)
