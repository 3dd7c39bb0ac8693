""" "Tell me when it's fixed": durable subscriptions, an outbox, and delivery at least once, shown once.

- `subscribe` records the conversation, its channel and the service (or any incident).
- `enqueue_due` turns every incident update a subscriber has not heard about into one outbox
  row; the unique (subscription, update) pair makes enqueueing idempotent, so a notifier that
  restarts, or two running at once, cannot queue an update twice.
- Channels that can push (Telegram, Facebook, ...) get it through Rasa's HTTP API
  (`trigger_intent` with `EXTERNAL_incident_update`); the delivering action records the
  notification id in the conversation's tracker and skips ids it has already shown, so a retry
  after a crash between Rasa's reply and our bookkeeping shows nothing twice.
- Channels that cannot push (the REST channel) get it with their next answer: `take_pending`.
- The same loop delivers the closing notices of "it's back" (bot.people.closing), with the
  key "c<id>" in place of the notification id.

    python -m bot.conversation.notify     # the notifier loop (make run starts it)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.core.clock import Clock, utcnow
from bot.core.errors import LimitError, OutageAssistantError, ValidationError
from bot.core.settings import Settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.locks import one_at_a_time
from bot.db.models import (
    ClosingNotice,
    Incident,
    IncidentStatus,
    IncidentUpdate,
    Notification,
    OutboxRow,
    Service,
    Subscription,
)
from bot.people import closing
from bot.rasa_api import RasaApi, last_user_message_at
from common.text import conversation_id_problem

logger = logging.getLogger(__name__)

EXTERNAL_INTENT = "EXTERNAL_incident_update"


@dataclass(frozen=True)
class NoticeView:
    """What one notification tells the customer."""

    id: int
    service_name: str | None
    incident_title: str
    status: IncidentStatus
    message: str
    posted_at: datetime


# New subscriptions asked from one address (web chat) in CLIENT_WINDOW; more get LimitError.
# One client minting conversations could otherwise fill the outbox (issue 20: 100 from one
# address were all stored). One per conversation and service holds whatever the address.
SUBSCRIPTIONS_PER_CLIENT = 10
CLIENT_WINDOW = timedelta(hours=1)


def subscribe(
    session: Session,
    conversation_id: str,
    channel: str,
    service_key: str | None,
    now: datetime,
    client_key: str | None = None,
) -> bool:
    """Subscribe; False if this conversation already waits on that service (nothing changes).
    LimitError if this address has asked for SUBSCRIPTIONS_PER_CLIENT already this hour."""
    problem = conversation_id_problem(conversation_id)
    if problem:
        raise ValidationError(f"a subscription needs a conversation id; this one {problem}")
    if service_key is not None and session.get(Service, service_key) is None:
        raise ValidationError(f"unknown service: {service_key}")
    existing = session.scalars(
        select(Subscription).where(
            Subscription.conversation_id == conversation_id,
            Subscription.service_key.is_(None) if service_key is None else Subscription.service_key == service_key,
            Subscription.ended_at.is_(None),
        )
    ).first()
    if existing is not None:
        return False
    if client_key is not None:
        one_at_a_time(session, f"subscription:{client_key}")
    latest = session.scalar(select(func.max(IncidentUpdate.id))) or 0
    row = Subscription(
        conversation_id=conversation_id,
        channel=(channel or "unknown")[:40],
        service_key=service_key,
        created_at=now,
        after_update_id=latest,
        client_key=client_key,
    )
    session.add(row)
    session.flush()  # written first, counted after (bot.db.locks): one client's burst cannot overshoot
    if client_key is not None:
        recent = session.scalar(
            select(func.count(Subscription.id)).where(
                Subscription.client_key == client_key, Subscription.created_at > now - CLIENT_WINDOW
            )
        )
        if (recent or 0) > SUBSCRIPTIONS_PER_CLIENT:
            session.delete(row)
            session.flush()
            raise LimitError("too many notification requests from this address; try again later")
    return True


def waiting_subscribers(session: Session) -> dict[str | None, int]:
    """Active subscriptions per service key (None: any incident)."""
    rows = session.execute(
        select(Subscription.service_key, func.count(Subscription.id))
        .where(Subscription.ended_at.is_(None))
        .group_by(Subscription.service_key)
    ).all()
    return {key: int(n) for key, n in rows}


def _touches(incident: Incident, update: IncidentUpdate, service_key: str | None) -> bool:
    if service_key is None:
        return True
    return service_key in update.service_keys or any(i.service_key == service_key for i in incident.impacts)


def enqueue_due(session: Session, now: datetime) -> int:
    """Queue every update each active subscriber has not been sent yet; returns how many were queued."""
    queued = 0
    for sub in session.scalars(select(Subscription).where(Subscription.ended_at.is_(None))):
        already = set(session.scalars(select(Notification.update_id).where(Notification.subscription_id == sub.id)))
        updates = session.scalars(
            select(IncidentUpdate)
            .where(IncidentUpdate.id > sub.after_update_id)
            .order_by(IncidentUpdate.id)
            .options(selectinload(IncidentUpdate.incident).selectinload(Incident.impacts))
        )
        for update in updates:
            if update.id in already or not _touches(update.incident, update, sub.service_key):
                continue
            session.add(Notification(subscription_id=sub.id, update_id=update.id, created_at=now))
            queued += 1
            if update.status is IncidentStatus.RESOLVED:
                sub.ended_at = now  # what they waited for has happened
    session.flush()
    return queued


def _view(session: Session, notification: Notification) -> NoticeView:
    update = notification.update
    key = notification.subscription.service_key
    service = session.get(Service, key) if key else None
    return NoticeView(
        id=notification.id,
        service_name=service.name if service else None,
        incident_title=update.incident.title,
        status=update.status,
        message=update.message,
        posted_at=update.posted_at,
    )


def claim_shown(session: Session, notification_id: int, now: datetime) -> NoticeView | None:
    """The notice to show for a push, marked shown; None if there is none or it was shown
    already: a push repeated after the notifier died mid-request, when Rasa had sent the
    message but dropped the turn (and with it the delivered-notices slot). `mark` clears the
    mark when the push fails, so that the retry shows it."""
    notification = session.get(Notification, notification_id)
    return _view(session, notification) if notification is not None and notification.claim_shown(now) else None


def conversations_with_pending(session: Session, push_channels: frozenset[str]) -> frozenset[str]:
    """Conversations with notices to show with their next answer: incident updates on channels
    that cannot push, and closing notices (bot.people.closing) that were not pushed."""
    updates = frozenset(
        session.scalars(
            select(Subscription.conversation_id)
            .join(Notification)
            .where(Notification.delivered_at.is_(None), Subscription.channel.not_in(push_channels))
            .distinct()
        )
    )
    return updates | closing.conversations_waiting(session, push_channels)


def take_pending(
    session: Session, conversation_id: str, now: datetime, push_channels: frozenset[str]
) -> list[NoticeView]:
    """Undelivered notices for a conversation on a channel that cannot push; marked delivered."""
    rows = session.scalars(
        select(Notification)
        .join(Subscription)
        .where(
            Subscription.conversation_id == conversation_id,
            Notification.delivered_at.is_(None),
            Subscription.channel.not_in(push_channels),
        )
        .order_by(Notification.id)
    ).all()
    views = [_view(session, row) for row in rows]
    for row in rows:
        row.attempted(now)  # shown with this answer: delivered
    session.flush()
    return views


def push_due(session: Session, push_channels: frozenset[str], now: datetime) -> list[tuple[int, str]]:
    """(notification id, conversation id) of undelivered notices on channels that can push."""
    rows = session.execute(
        select(Notification.id, Subscription.conversation_id)
        .join(Subscription)
        .where(
            Notification.delivered_at.is_(None),
            (Notification.retry_at.is_(None)) | (Notification.retry_at <= now),
            Subscription.channel.in_(push_channels),
        )
        .order_by(Notification.id)
    ).all()
    return [(int(r[0]), str(r[1])) for r in rows]


@dataclass(frozen=True)
class Push:
    """One notice to push: its key in the `notification_id` entity (an update notice's id, or a
    closing notice's "c<id>"), where, and its outbox row."""

    key: str
    conversation_id: str
    table: type[Notification] | type[ClosingNotice]
    id: int
    may_hold: bool = False  # a closing notice waits out WhatsApp's window


class Notifier:
    """Queues due notices and pushes them through Rasa's HTTP API. Safe to restart at any point."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        rasa: RasaApi,
        clock: Clock = utcnow,
        tracker_store: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.rasa = rasa
        self.clock = clock
        # Read for WhatsApp's 24-hour window: when did this customer last write?
        self.tracker_store = tracker_store or make_engine(settings.tracker_store_url)

    def _due(self) -> list[Push]:
        """Queue what is due, then list every pushable notice: incident updates, then closings."""
        for _ in range(3):
            try:
                with self.sessions.begin() as session:
                    enqueue_due(session, self.clock())
                break
            except IntegrityError:
                # Another notifier queued the same update first; the outbox already has it.
                logger.info("notification already queued elsewhere; retrying")
        channels, now = self.settings.notify_push_channels, self.clock()
        with self.sessions() as session:
            updates = [Push(str(i), c, Notification, i) for i, c in push_due(session, channels, now)]
            closings = [
                Push(closing.notice_key(d.id), d.conversation_id, ClosingNotice, d.id, may_hold=True)
                for d in closing.push_due(session, channels, now)
            ]
        return updates + closings

    def _held(self, item: Push) -> bool:
        """Whether WhatsApp's 24-hour window keeps this closing notice for the customer's next message."""
        if not (item.may_hold and item.conversation_id.startswith(closing.WHATSAPP_PREFIX)):
            return False
        last = last_user_message_at(self.tracker_store, item.conversation_id)
        if not closing.outside_whatsapp_window(item.conversation_id, last, self.clock()):
            return False
        with self.sessions.begin() as session:
            closing.mark(session, item.id, self.clock(), held=True)
        return True

    def _attempted(self, item: Push, error: str | None) -> None:
        with self.sessions.begin() as session:
            row: OutboxRow | None = (
                session.get(Notification, item.id)
                if item.table is Notification
                else session.get(ClosingNotice, item.id)
            )
            if row is not None:
                row.attempted(self.clock(), error)

    async def run_once(self) -> int:
        """Queue and push what is due; returns how many Rasa accepted."""
        try:
            due = await asyncio.to_thread(self._due)
        except SQLAlchemyError as exc:
            logger.warning("notifier cannot read the store: %s", exc.__class__.__name__)
            return 0
        pushed = 0
        for item in due:
            try:
                if await asyncio.to_thread(self._held, item):
                    continue
            except (SQLAlchemyError, OutageAssistantError) as exc:
                logger.warning("cannot check WhatsApp's window: %s", exc.__class__.__name__)
                continue
            error = await self.rasa.trigger_intent(item.conversation_id, EXTERNAL_INTENT, {"notification_id": item.key})
            await asyncio.to_thread(self._attempted, item, error)
            pushed += error is None
        return pushed

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            await self.run_once()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.notify_interval)
