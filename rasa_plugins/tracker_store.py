"""Rasa's SQL tracker store, made safe and fast, and its fail-safe wrapper, made honest.

- `SafeSQLTrackerStore` (named in bot/endpoints.yml): an error in one conversation stays in
  it, a long conversation costs no more to load than a short one, and no more to answer:
  the tracker a message is handled with holds the last turns only (`compacted`).
- `HonestTrackerStore`: when the tracker store fails, Rasa 3.6 carries on as if the
  conversation were new and then drops it; this one lets the failure reach the channel.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore, ensure_schema_exists
from rasa.shared.core.events import (
    ActionExecuted,
    ConversationPaused,
    SessionStarted,
    SlotSet,
    UserUttered,
    deserialise_events,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)


class HonestTrackerStore(FailSafeTrackerStore):  # type: ignore[misc]
    """Rasa's FailSafeTrackerStore, minus the fall-back that loses conversations.

    Upstream (rasa 3.6.21) answers a failed `retrieve` with None, so the message is handled
    as the start of a new conversation (its slots and any half-filled form are gone), and a
    failed `save` goes to an in-memory store that nothing ever reads back: during a database
    outage every message is answered out of context and then silently dropped. Here the
    error propagates instead: the channel tells the customer to try again in a minute (see
    SafeRestInput), nothing is half-handled, and the conversation goes on intact once the
    database is back.
    """

    async def retrieve(self, sender_id: str) -> Any:
        return await self._tracker_store.retrieve(sender_id)

    async def retrieve_full_tracker(self, sender_id: str) -> Any:
        return await self._tracker_store.retrieve_full_tracker(sender_id)

    async def save(self, tracker: Any) -> None:
        await self._tracker_store.save(tracker)


def install_honest_tracker_store() -> None:
    """Make Agent wrap its tracker store in HonestTrackerStore (`Agent._create_tracker_store`
    looks `FailSafeTrackerStore` up in rasa.core.agent's namespace when an agent is made)."""
    import rasa.core.agent

    rasa.core.agent.FailSafeTrackerStore = HonestTrackerStore


# A tracker is handled with at least KEEP_TURNS of its customer's messages; once it holds more
# than COMPACT_AT, the older ones are folded into a summary (see `compacted`).
KEEP_TURNS = 8
COMPACT_AT = 16


class TrackerMismatch(RuntimeError):
    """A compacted tracker no longer lines up with the stored events: saving it could lose a turn."""


@dataclass
class Compaction:
    """How a conversation's tracker was last folded: the real events from `cut` on are kept,
    behind `prefix`, events that restate the state the earlier ones left."""

    cut: int
    cut_event: Any
    prefix: list[Any]


def summary_of(sender_id: str, events: list[Any], slots: Any) -> list[Any] | None:
    """Events that put a tracker in the state `events` leave it in, as Rasa's own session start
    does (with the slots carried over): a session start, the slots that are set, a pause if
    the conversation is paused, and a listen. None where that would not restore it (a form
    or other loop is active, or an action is to follow)."""
    replay = DialogueStateTracker.from_events(sender_id, events, slots)
    if replay.active_loop_name or replay.followup_action:
        return None
    at = events[-1].timestamp
    prefix: list[Any] = [ActionExecuted("action_session_start", timestamp=at), SessionStarted(timestamp=at)]
    for slot in replay.slots.values():
        if slot.value != slot.initial_value:
            prefix.append(SlotSet(slot.name, slot.value, timestamp=at))
    if replay.is_paused():
        prefix.append(ConversationPaused(timestamp=at))
    prefix.append(ActionExecuted("action_listen", timestamp=at))
    return prefix


class SafeSQLTrackerStore(SQLTrackerStore):  # type: ignore[misc]
    """Rasa's SQLTrackerStore, except that an error in one conversation stays in it, and a
    long conversation costs no more to load than a short one.

    Upstream `SQLTrackerStore.session_scope` (rasa 3.6.21) wraps the whole session in
    `except ValueError: print_error_and_exit(...)`, meant for a missing PostgreSQL schema.
    UnicodeEncodeError is a ValueError, so a conversation id with a lone surrogate
    (`{"sender": "\\ud800"}`) used to end the Rasa server. Here only the schema check can
    exit; any other error propagates to the message being handled, which the channel
    answers (see SafeRestInput's `fill_silence`).

    Upstream `retrieve` reads and parses every event of the conversation's session on every
    message, so reply time grows with the conversation (docs/benchmarks.md measured message
    60 at twice message 2). Here the events this process last saved or read are kept, parsed,
    with the id of the conversation's newest row; `retrieve` asks the database only for
    that id (from the sender_id index), and reads the rows again only when it differs: when another Rasa server (or
    anything else) wrote to the conversation, or this process has not seen it recently.
    Each call still builds a new tracker from the events, as upstream does.

    Past COMPACT_AT customer messages in one session, the tracker a message is handled with
    is `compacted`: the last KEEP_TURNS messages' events, behind a few events that restate
    what the earlier ones left (slots, a pause). Rasa replays the tracker several times a
    message, and sends all of it to the action server, so without this a reply's cost grew
    with the conversation (issue 20: 43 ms at turn 1, 110 ms at turn 200). The policies read
    the last 4 turns (MemoizationPolicy's max_history) and rules the current state, so their
    predictions are the same. Only the real new events are ever stored, and the HTTP API's
    tracker (`retrieve_full_tracker`) is the whole conversation, as before.
    """

    # Parsed events kept, over all conversations (least recently used dropped first).
    MAX_CACHED_EVENTS = 50_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recent: OrderedDict[str, tuple[int, list[Any]]] = OrderedDict()
        self._cached_events = 0
        self._compactions: dict[str, Compaction] = {}

    @contextlib.contextmanager
    def session_scope(self) -> Generator[Any, None, None]:
        session = self.sessionmaker()
        try:
            try:
                ensure_schema_exists(session)
            except ValueError as e:  # the one case upstream's exit is for
                raise SystemExit(f"PostgreSQL schema {e} was not found in the database") from e
            yield session
        finally:
            session.close()

    def _newest_row(self, session: Any, sender_id: str) -> int | None:
        """The id of the conversation's newest row: one look-up in the sender_id index, where
        counting the session's rows (as this once did) read all of them on every message."""
        newest = session.query(sa.func.max(self.SQLEvent.id)).filter(self.SQLEvent.sender_id == sender_id).scalar()
        return int(newest) if newest is not None else None

    @staticmethod
    def _as_retrieved(events: list[Any]) -> list[Any]:
        """The events `_event_query` returns for this tracker: from its latest session start on."""
        starts = [event.timestamp for event in events if isinstance(event, SessionStarted)]
        return [event for event in events if event.timestamp >= max(starts)] if starts else events

    def _remember(self, sender_id: str, newest: int, events: list[Any]) -> None:
        dropped = self._recent.pop(sender_id, None)  # its compaction stays: it checks itself by identity
        if dropped is not None:
            self._cached_events -= len(dropped[1])
        self._recent[sender_id] = (newest, events)
        self._cached_events += len(events)
        while self._cached_events > self.MAX_CACHED_EVENTS and self._recent:
            self._forget(next(iter(self._recent)))

    def _forget(self, sender_id: str) -> None:
        self._compactions.pop(sender_id, None)
        dropped = self._recent.pop(sender_id, None)
        if dropped is not None:
            self._cached_events -= len(dropped[1])

    async def retrieve(self, sender_id: str) -> Any:
        with self.session_scope() as session:
            newest = self._newest_row(session, sender_id)
            if newest is None:
                self._forget(sender_id)
                return None
            cached = self._recent.get(sender_id)
            # Ids only grow, so another writer (another Rasa server) shows as a newer row.
            if cached is not None and cached[0] == newest:
                self._recent.move_to_end(sender_id)
                events = cached[1]
            else:
                rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
                events = deserialise_events([json.loads(row.data) for row in rows])
                self._remember(sender_id, newest, events)
        if not self.domain or not events:
            return None
        prefix, cut = self.compacted(sender_id, events)
        if not prefix:
            return DialogueStateTracker.from_events(sender_id, events, self.domain.slots)
        tail = events[cut:]
        tracker = DialogueStateTracker.from_events(sender_id, [*prefix, *tail], self.domain.slots)
        # What `_additional_events` needs to tell the new events from the summary and the tail.
        tracker._outage_compacted = (len(prefix) + len(tail), events)
        return tracker

    def compacted(self, sender_id: str, events: list[Any]) -> tuple[list[Any], int]:
        """(summary events, index of the first real event kept), or ([], 0) to keep them all.

        The cut moves in steps of KEEP_TURNS messages, so the summary is rebuilt (one replay
        of the events before the cut) once every KEEP_TURNS messages, not on every one."""
        known = self._compactions.get(sender_id)
        holds = known is not None and known.cut < len(events) and events[known.cut] is known.cut_event
        if known is not None and holds:
            after = sum(1 for e in itertools.islice(events, known.cut, None) if isinstance(e, UserUttered))
            if after <= COMPACT_AT:
                return known.prefix, known.cut
        turns = [i for i, e in enumerate(events) if isinstance(e, UserUttered)]
        if len(turns) <= COMPACT_AT or self.domain is None:
            self._compactions.pop(sender_id, None)
            return [], 0
        # From the last summary where it still holds (then only the events since its cut are
        # replayed), else from the start of the session.
        base, start = ([], 0)
        if known is not None and holds:
            base, start = known.prefix, known.cut
        # Cut just before a customer message that follows a listen, as late as keeps KEEP_TURNS.
        for cut in reversed(turns[: len(turns) - KEEP_TURNS + 1]):
            before = events[cut - 1] if cut else None
            if cut <= start or not isinstance(before, ActionExecuted) or before.action_name != "action_listen":
                continue
            prefix = summary_of(sender_id, [*base, *events[start:cut]], self.domain.slots)
            if prefix is not None:
                self._compactions[sender_id] = Compaction(cut, events[cut], prefix)
                return prefix, cut
        return [], 0
        # Cut just before a customer message that follows a listen, as late as keeps KEEP_TURNS.
        for cut in reversed(turns[: len(turns) - KEEP_TURNS + 1]):
            before = events[cut - 1] if cut else None
            if not isinstance(before, ActionExecuted) or before.action_name != "action_listen":
                continue
            prefix = summary_of(sender_id, events[:cut], self.domain.slots)
            if prefix is not None:
                self._compactions[sender_id] = Compaction(cut, events[cut], prefix)
                return prefix, cut
        return [], 0

    def _additional_events(self, session: Any, tracker: Any) -> Any:
        """The tracker's events not stored yet. Upstream counts the stored rows with a query;
        when this tracker was built from the events kept here (the same objects, checked by
        identity), their number is known. The lock store keeps any other writer out of the
        conversation between its retrieve and this save."""
        compacted = getattr(tracker, "_outage_compacted", None)
        if compacted is not None:
            built, stored = compacted
            events = tracker.events
            if len(events) < built or events[built - 1] is not stored[-1]:
                raise TrackerMismatch(f"conversation {tracker.sender_id!r}: its tracker no longer matches the store")
            return itertools.islice(events, built, len(events))
        kept = self._recent.get(tracker.sender_id)
        events = tracker.events
        if kept is not None and kept[1] and len(events) >= len(kept[1]):
            stored = kept[1]
            if events[0] is stored[0] and events[len(stored) - 1] is stored[-1]:
                return itertools.islice(events, len(stored), len(events))
        return super()._additional_events(session, tracker)

    async def save(self, tracker: Any) -> None:
        """Upstream's save (the same rows), which also notes the id of the newest row it wrote."""
        await self.stream_events(tracker)
        try:
            with self.session_scope() as session:
                rows, added = [], []
                for event in self._additional_events(session, tracker):
                    added.append(event)
                    data = event.as_dict()
                    rows.append(
                        self.SQLEvent(
                            sender_id=tracker.sender_id,
                            type_name=event.type_name,
                            timestamp=data.get("timestamp"),
                            intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                            action_name=data.get("name"),
                            data=json.dumps(data),
                        )
                    )
                session.add_all(rows)
                session.flush()  # assigns the ids; read after commit, each would be fetched again
                newest = rows[-1].id if rows else self._newest_row(session, tracker.sender_id)
                session.commit()
        except BaseException:
            self._forget(tracker.sender_id)
            raise
        if newest is None:
            self._forget(tracker.sender_id)
        else:
            # What the next retrieve would read while the newest row is still this one.
            compacted = getattr(tracker, "_outage_compacted", None)
            if compacted is not None and not any(isinstance(e, SessionStarted) for e in added):
                real = [*compacted[1], *added]  # the stored part is as retrieved already: no scan
            else:
                real = self._as_retrieved([*compacted[1], *added] if compacted is not None else list(tracker.events))
            self._remember(tracker.sender_id, newest, real)
