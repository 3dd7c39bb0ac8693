"""What the Rasa server loads at run time (never at training): its launcher, the tracker
store and the REST input channel. Runs only in `.venv-rasa`, Rasa's own environment.

- `python -m bot.rasa_runtime run ...` starts `rasa run` with the HTTP API token taken from
  the environment (RASA_AUTH_TOKEN), so that it never appears on a command line (`ps`).
  The same secret signs the JWTs that our clients send in an Authorization header, so no
  client puts it in a URL either (URLs end up in access logs).
- `SafeSQLTrackerStore`: Rasa 3.6's SQL tracker store ends the whole process on any
  ValueError raised while a session is open (see `session_scope`); this one lets the error
  fail only the conversation it happened in.
- `HonestTrackerStore`: when the tracker store fails, Rasa 3.6 carries on as if the
  conversation were new and then drops it; this one lets the failure reach the channel.
- `guard_messages` checks every incoming message's conversation id, channel name and
  metadata before Rasa sees it, for every channel that uses it.
- `SafeRestInput`: Rasa's REST channel with its input checked.
- `install_nlu_off_loop`: a message's NLU runs on a worker thread, so one conversation's
  NLU does not stall the others (docs/benchmarks.md measures why this route).
- `install_action_result_validator`: the action server's answers are checked against Rasa's
  schema with a validator built once, not one that re-checks the schema on every call.
- `install_incremental_states`: the dialogue policies' view of a conversation (its list of
  states) is extended by the new events, not rebuilt from the first event, on every prediction.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore, ensure_schema_exists
from rasa.shared.core.events import SessionStarted, deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sanic import response as sanic_response
from sanic.exceptions import InvalidUsage, PayloadTooLarge
from sanic.request import Request

from bot.text import conversation_id_problem, printable

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "RASA_AUTH_TOKEN"
NLU_THREADS_VARIABLE = "NLU_THREADS"
MAX_BODY_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 10_000
MAX_METADATA_BYTES = 8 * 1024
CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
T = TypeVar("T")
# The Sanic app this process serves, once install_api_guard's wrapper has built it.
SERVING: dict[str, Any] = {}


# --- launcher -----------------------------------------------------------------------------


def rasa_argv(argv: list[str], environ: dict[str, str]) -> list[str]:
    """Rasa's own command line, with the token from `environ` added (and never from `argv`)."""
    if any(arg in ("--auth-token", "--jwt-secret") for arg in argv):
        raise SystemExit("pass the token in the RASA_AUTH_TOKEN environment variable, not on the command line")
    token = environ.get(TOKEN_VARIABLE, "")
    if not token:
        raise SystemExit(f"{TOKEN_VARIABLE} is not set")
    # Rasa's argument parser is the only way in; this list lives only inside this process,
    # /proc/<pid>/cmdline keeps the command we were started with.
    return ["rasa", *argv, "--auth-token", token, "--jwt-secret", token, "--jwt-method", "HS256"]


async def refuse_bad_conversation_ids(request: Request) -> Any:
    """Rasa's HTTP API takes a conversation id in the path (`/conversations/<id>/...`) and
    hands it to the tracker store unchecked; such an id gets 400 here instead."""
    conversation_id = (request.match_info or {}).get("conversation_id")
    if conversation_id is None:
        return None
    problem = conversation_id_problem(conversation_id)
    if problem:
        return sanic_response.json(
            {"status": "failure", "reason": "BadRequest", "message": f"conversation id {problem}"}, 400
        )
    return None


def install_api_guard() -> None:
    """Wrap `rasa.core.run.configure_app` so that the app it builds checks conversation ids.

    Rasa 3.6 offers no hook for middleware on its HTTP API (channel blueprints' middleware
    applies to their own routes only), and `serve_application` looks `configure_app` up in
    its module at call time, so wrapping the module attribute is enough.
    """
    import rasa.core.run

    original = rasa.core.run.configure_app
    if getattr(original, "_outage_guarded", False):
        return

    def configure_app(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **kwargs)
        app.register_middleware(refuse_bad_conversation_ids, "request")
        SERVING["app"] = app  # for tell_to_try_again, which runs where no request is at hand
        return app

    configure_app._outage_guarded = True  # type: ignore[attr-defined]
    rasa.core.run.configure_app = configure_app


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


def nlu_threads(environ: dict[str, str]) -> int:
    """Worker threads for NLU; 0 parses on the event loop, as Rasa itself does (for comparison)."""
    raw = environ.get(NLU_THREADS_VARIABLE, "1")
    if not raw.isdigit() or not 0 <= int(raw) <= 16:
        raise SystemExit(f"{NLU_THREADS_VARIABLE} must be a whole number from 0 to 16, not {raw!r}")
    return int(raw)


def finish_without_suspending(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never awaits anything to its end, on the calling thread.

    Rasa's `MessageProcessor.parse_message` is declared async but, without an NLU HTTP
    interpreter, does all its work synchronously (the graph runs on Dask's synchronous
    scheduler). Driving it here, on a worker thread, reuses Rasa's own parsing unchanged.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the coroutine awaited something; it cannot run off the event loop")


def install_nlu_off_loop(threads: int = 1) -> None:
    """Parse each message on a worker thread instead of Rasa's event loop.

    Rasa 3.6 runs the NLU graph synchronously inside the event loop, so while one message
    is encoded every other conversation waits, even for I/O. ONNX Runtime releases the GIL
    while it infers, so on a worker thread the encoder's work overlaps with the loop's
    (tracker store, action server calls, policies). The parse result is handed to Rasa
    through `UserMessage.parse_data`, which `_handle_message_with_tracker` already honours.
    Rasa's `Agent.parse_message` (its `/model/parse` route, outside evaluations) is unchanged.
    """
    from rasa.core.processor import MessageProcessor

    original = MessageProcessor._handle_message_with_tracker
    if getattr(original, "_outage_off_loop", False):
        return
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nlu")

    async def _handle_message_with_tracker(self: Any, message: UserMessage, tracker: Any) -> None:
        if not message.parse_data and self.http_interpreter is None:
            parsing = self.parse_message(message, tracker)
            loop = asyncio.get_running_loop()
            message.parse_data = await loop.run_in_executor(executor, finish_without_suspending, parsing)
        await original(self, message, tracker)

    _handle_message_with_tracker._outage_off_loop = True  # type: ignore[attr-defined]
    MessageProcessor._handle_message_with_tracker = _handle_message_with_tracker


def install_action_result_validator() -> None:
    """Validate custom actions' results with one validator built at start-up.

    Rasa 3.6's `RemoteAction._validate_action_result` calls `jsonschema.validate`, which
    first validates the (constant) schema itself against JSON Schema's meta-schema, every
    time. Profiling `make bench` showed that meta-check at 40% of the Rasa process's CPU;
    the check of the action server's answer itself is a small fraction of it. This keeps
    the same schema, the same check of each answer and the same error, without the rest.
    """
    from jsonschema import ValidationError, validators
    from rasa.core.actions.action import RemoteAction

    original = RemoteAction._validate_action_result
    if getattr(original, "_outage_cached", False):
        return
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)  # once, as jsonschema.validate would on every call
    validator = validator_class(schema)

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
        except ValidationError as e:
            e.message += (
                ". Failed to validate Action server response from API, make sure your response "
                "from the Action endpoint is valid."
            )
            raise
        return True

    _validate_action_result._outage_cached = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result


# States computed so far per (conversation, domain, arguments); least recently used dropped first.
MAX_STATE_PROGRESS = 2_000


@dataclass
class StatesProgress:
    """Rasa's `Domain.states_for_tracker_history` loop, paused after `done` events."""

    done: int
    last_event: Any  # the event object at done - 1, to check that the tracker still starts the same
    replay: Any  # a tracker with the first `done` events applied
    states: list[Any]
    last_ml_action_sub_state: Any = None
    turn_was_hidden: bool = False


def _plainly_appended(event: Any) -> bool:
    """Whether `applied_events` simply appends `event`, whatever comes after it: no restart,
    session start or revert, and no active loop (whose later executions rewind events)."""
    from rasa.shared.core.events import ActionReverted, ActiveLoop, Restarted, UserUtteranceReverted

    if isinstance(event, ActiveLoop):
        return not event.name
    return not isinstance(event, Restarted | SessionStarted | ActionReverted | UserUtteranceReverted)


def _state_step(
    domain: Any,
    progress: StatesProgress,
    tracker: Any,
    hide_rule_turn: bool,
    omit_unset_slots: bool,
    ignore_rule_only_turns: bool,
    rule_only_data: Any,
) -> None:
    """One pass of the body of Rasa 3.6's `Domain.states_for_tracker_history` loop."""
    from rasa.shared.core.constants import PREVIOUS_ACTION

    if ignore_rule_only_turns:
        if not progress.turn_was_hidden:
            progress.last_ml_action_sub_state = domain._get_prev_action_sub_state(tracker)
        if not tracker.followup_action and tracker.latest_action_name != tracker.active_loop_name:
            progress.turn_was_hidden = hide_rule_turn
        if progress.turn_was_hidden:
            return
    state = domain.get_active_state(tracker, omit_unset_slots=omit_unset_slots)
    if ignore_rule_only_turns:
        domain._remove_rule_only_features(state, rule_only_data)
        if progress.states:
            domain._substitute_rule_only_user_input(state, progress.states[-1])
        if progress.last_ml_action_sub_state:
            state[PREVIOUS_ACTION] = progress.last_ml_action_sub_state
    progress.states.append(domain._clean_state(state))


def _copy_states(states: list[Any]) -> list[Any]:
    # The featurizers delete keys from the states' sub-dictionaries in place.
    return [{key: dict(value) for key, value in state.items()} for state in states]


def install_incremental_states(max_progress: int = MAX_STATE_PROGRESS) -> None:
    """Compute the policies' states of a conversation from where the last computation stopped.

    Rasa 3.6's policies turn the tracker into a list of states several times per prediction
    (the rule policy twice, memoization once) and two or three predictions run per message,
    each replaying every event of the session from the start: the cost of a reply grows
    with the length of the conversation. Here the loop of `states_for_tracker_history` is
    kept, paused after the last event it saw, and continued with the new events only.

    It takes this path only when the result is the same by construction: the tracker begins
    with the very events (the same objects: the tracker store keeps them, see
    SafeSQLTrackerStore) the paused loop consumed, and each new event would simply be
    appended by `applied_events` (no restart, session start, revert, and no active loop, whose
    later executions rewind events). Anything else (forms, training, rule trackers) runs
    Rasa's own code.
    """
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted

    original = Domain.states_for_tracker_history
    if getattr(original, "_outage_incremental", False):
        return
    progress_by_key: OrderedDict[tuple[Any, ...], StatesProgress] = OrderedDict()

    def states_for_tracker_history(
        self: Any,
        tracker: Any,
        omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False,
        rule_only_data: dict[str, Any] | None = None,
    ) -> list[Any]:
        args = (omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        if tracker.is_rule_tracker or not tracker.sender_id:
            return original(self, tracker, *args)  # type: ignore[no-any-return]
        key = (tracker.sender_id, id(self), omit_unset_slots, ignore_rule_only_turns, repr(rule_only_data))
        events = list(tracker.events)
        progress = progress_by_key.pop(key, None)
        if (
            progress is not None
            and 0 < progress.done <= len(events)
            and events[progress.done - 1] is progress.last_event
        ):
            new = events[progress.done :]  # only these need checking: the rest were, when consumed
        else:
            progress = StatesProgress(0, None, tracker.init_copy(), [])
            # A leading restart or session start empties Rasa's applied events: skip it.
            new = events[1:] if events and not _plainly_appended(events[0]) else events
        if not all(_plainly_appended(e) for e in new):
            return original(self, tracker, *args)  # type: ignore[no-any-return]
        for event in new:
            if isinstance(event, ActionExecuted):
                _state_step(self, progress, progress.replay, event.hide_rule_turn, *args)
            progress.replay.update(event)
        if new:
            progress.done, progress.last_event = len(events), events[-1]
        progress_by_key[key] = progress  # re-inserted: now the most recently used
        while len(progress_by_key) > max_progress:
            progress_by_key.popitem(last=False)
        # The final state (after every event), on a copy of the loop's variables.
        final = StatesProgress(
            progress.done,
            progress.last_event,
            progress.replay,
            progress.states[-1:],
            progress.last_ml_action_sub_state,
            progress.turn_was_hidden,
        )
        _state_step(self, final, progress.replay, False, *args)
        return _copy_states(progress.states + final.states[len(progress.states[-1:]) :])

    states_for_tracker_history._outage_incremental = True  # type: ignore[attr-defined]
    Domain.states_for_tracker_history = states_for_tracker_history


def main() -> None:
    sys.argv = rasa_argv(sys.argv[1:], dict(os.environ))
    install_api_guard()
    install_honest_tracker_store()
    threads = nlu_threads(dict(os.environ))
    if threads:
        install_nlu_off_loop(threads)
    install_action_result_validator()
    install_incremental_states()
    from rasa.__main__ import main as rasa_main

    rasa_main()


# --- tracker store ------------------------------------------------------------------------


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
    that id, and reads the rows again only when it differs: when another Rasa server (or
    anything else) wrote to the conversation, or this process has not seen it recently.
    Each call still builds a new tracker from the events, as upstream does.
    """

    # Parsed events kept, over all conversations (least recently used dropped first).
    MAX_CACHED_EVENTS = 50_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recent: OrderedDict[str, tuple[int, list[Any]]] = OrderedDict()
        self._cached_events = 0

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

    def _session_rows(self, session: Any, sender_id: str) -> tuple[int | None, int]:
        """(id of the newest row, number of rows) of what `retrieve` would read."""
        query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
        aggregate = query.order_by(None).with_entities(sa.func.max(self.SQLEvent.id), sa.func.count(self.SQLEvent.id))
        newest, count = aggregate.one()
        return newest, int(count)

    @staticmethod
    def _as_retrieved(events: list[Any]) -> list[Any]:
        """The events `_event_query` returns for this tracker: from its latest session start on."""
        starts = [event.timestamp for event in events if isinstance(event, SessionStarted)]
        return [event for event in events if event.timestamp >= max(starts)] if starts else events

    def _remember(self, sender_id: str, newest: int, events: list[Any]) -> None:
        self._forget(sender_id)
        self._recent[sender_id] = (newest, events)
        self._cached_events += len(events)
        while self._cached_events > self.MAX_CACHED_EVENTS and self._recent:
            self._forget(next(iter(self._recent)))

    def _forget(self, sender_id: str) -> None:
        dropped = self._recent.pop(sender_id, None)
        if dropped is not None:
            self._cached_events -= len(dropped[1])

    async def retrieve(self, sender_id: str) -> Any:
        with self.session_scope() as session:
            newest, count = self._session_rows(session, sender_id)
            if newest is None:
                self._forget(sender_id)
                return None
            cached = self._recent.get(sender_id)
            if cached is not None and cached[0] == newest and len(cached[1]) == count:
                self._recent.move_to_end(sender_id)
                events = cached[1]
            else:
                rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).all()
                events = deserialise_events([json.loads(row.data) for row in rows])
                self._remember(sender_id, newest, events)
        if not self.domain or not events:
            return None
        return DialogueStateTracker.from_events(sender_id, events, self.domain.slots)

    def _additional_events(self, session: Any, tracker: Any) -> Any:
        """The tracker's events not stored yet. Upstream counts the stored rows with a query;
        when this tracker was built from the events kept here (the same objects, checked by
        identity), their number is known. The lock store keeps any other writer out of the
        conversation between its retrieve and this save."""
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
                rows = []
                for event in self._additional_events(session, tracker):
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
                newest = rows[-1].id if rows else self._session_rows(session, tracker.sender_id)[0]
                session.commit()
        except BaseException:
            self._forget(tracker.sender_id)
            raise
        if newest is None:
            self._forget(tracker.sender_id)
        else:
            # What the next retrieve would read; it checks the row count too before using it.
            self._remember(tracker.sender_id, newest, self._as_retrieved(list(tracker.events)))


# --- every channel --------------------------------------------------------------------------


def message_problem(message: UserMessage) -> str | None:
    """Why Rasa should not handle `message`, or None."""
    problem = conversation_id_problem(message.sender_id)
    if problem:
        return f"conversation id {problem}"
    if not isinstance(message.input_channel, str) or not CHANNEL_NAME.fullmatch(message.input_channel):
        return "input_channel must be a short lower-case name such as 'webchat'"
    if message.metadata is not None:
        try:
            size = len(json.dumps(message.metadata))
        except (TypeError, ValueError):
            return "metadata must be plain JSON"
        if size > MAX_METADATA_BYTES:
            return f"metadata is larger than {MAX_METADATA_BYTES} bytes"
    return None


def guard_messages(on_new_message: OnNewMessage) -> OnNewMessage:
    """Wrap a channel's handler: drop messages whose id, channel or metadata could break the
    tracker store, and clean the text of characters no customer types (NUL, lone surrogates).

    Channels whose input checks answer the sender with a 4xx (REST, Twilio) refuse such a
    message before this; here is the last line for every channel, and what it drops cannot
    be answered anyway (there is no valid conversation to answer in).
    """

    async def checked(message: UserMessage) -> Any:
        problem = message_problem(message)
        if problem:
            logger.warning(
                "message dropped on channel %r (conversation %r): %s",
                message.input_channel,
                str(message.sender_id)[:40],
                problem,
            )
            return None
        if isinstance(message.text, str):
            message.text = printable(message.text)
        try:
            return await on_new_message(message)
        except Exception:
            # Rasa sends a turn's replies before it saves the turn; if the save failed, the
            # customer must not see an answer to a message the conversation does not hold.
            # Replies collected for an HTTP response (REST) are withdrawn, so the channel
            # answers "try again" instead; what a social channel already sent stays sent.
            if isinstance(message.output_channel, CollectingOutputChannel):
                message.output_channel.messages.clear()
            else:
                await tell_to_try_again(message)
            raise

    return checked


async def tell_to_try_again(message: UserMessage) -> None:
    """On a social channel, say that the message was not handled. Rasa's Telegram and Twilio
    connectors log a failed turn and answer their webhook with success, so without this
    the customer would hear nothing and the provider would not send the message again."""
    app = SERVING.get("app")
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    variants = agent.domain.responses.get("utter_internal_error") if agent is not None else None
    if not variants or message.output_channel is None:
        return
    for attempt in (1, 2):  # a pooled keep-alive connection the provider has closed fails once
        try:
            await message.output_channel.send_text_message(message.sender_id, variants[0].get("text", ""))
            return
        except Exception:  # the provider may be failing too; the original error is what matters
            if attempt == 2:
                logger.exception("could not tell conversation %r to try again", str(message.sender_id)[:40])


# --- REST ---------------------------------------------------------------------------------


class SafeRestInput(RestInput):  # type: ignore[misc]
    """Rasa's REST channel with input checks: bad bodies get a 4xx with a reason, never a 500.

    Registered under the same name, so the URL stays /webhooks/rest/webhook.
    """

    @classmethod
    def name(cls) -> str:
        return "rest"

    @staticmethod
    def _payload(request: Request) -> dict[str, Any]:
        cached = request.ctx.__dict__.get("outage_payload")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise InvalidUsage("request body must be UTF-8 JSON") from None
        if not isinstance(data, dict):
            raise InvalidUsage('request body must be a JSON object like {"sender": "...", "message": "..."}')
        request.ctx.outage_payload = data
        return data

    async def _extract_sender(self, request: Request) -> str:
        sender = self._payload(request).get("sender")
        problem = conversation_id_problem(sender)
        if problem:
            raise InvalidUsage(f"'sender' {problem}")
        return str(sender)

    def _extract_message(self, request: Request) -> str:
        message = self._payload(request).get("message", "")
        if message is None:
            message = ""
        if not isinstance(message, str):
            raise InvalidUsage("'message' must be a string")
        if len(message) > MAX_MESSAGE_CHARS:
            raise PayloadTooLarge(f"'message' is longer than {MAX_MESSAGE_CHARS} characters")
        return message  # cleaned once, by guard_messages, for every channel

    def _extract_input_channel(self, request: Request) -> str:
        channel = self._payload(request).get("input_channel") or self.name()
        if not isinstance(channel, str) or not CHANNEL_NAME.fullmatch(channel):
            raise InvalidUsage("'input_channel' must be a short lower-case name such as 'webchat'")
        return channel

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        metadata = self._payload(request).get("metadata")
        if metadata is None:
            return None
        if not isinstance(metadata, dict):
            raise InvalidUsage("'metadata' must be a JSON object")
        if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
            raise PayloadTooLarge(f"'metadata' is larger than {MAX_METADATA_BYTES} bytes")
        return metadata

    def blueprint(self, on_new_message: OnNewMessage) -> Any:
        """Rasa's blueprint, plus: a turn that produced no reply at all gets one.

        When a custom action fails (the action server is restarting, say) or the tracker
        store fails, Rasa logs it and answers with nothing; the customer would not know
        whether anything happened. They are told to try again in a minute, or, in a
        conversation paused for staff, that a person has it.
        """
        bp = super().blueprint(guard_messages(on_new_message))

        @bp.middleware("response")  # type: ignore[misc]
        async def fill_silence(request: Request, response: Any) -> Any:
            if request.method != "POST" or not request.path.endswith("/webhook") or response.status != 200:
                return None
            if response.body.strip() != b"[]" or request.args.get("stream"):
                return None
            sender = str(self._payload(request).get("sender") or "")
            agent = request.app.ctx.agent
            paused = False
            try:
                tracker = await agent.tracker_store.retrieve(sender)
                paused = bool(tracker and tracker.is_paused())
            except Exception:  # the tracker store itself may be what failed
                logger.exception("could not read the tracker of a silent turn")
            name = "utter_paused_for_staff" if paused else "utter_internal_error"
            variants = agent.domain.responses.get(name) or [{"text": ""}]
            if not paused:
                logger.warning("a turn produced no reply; told the customer to try again")
            return sanic_response.json([{"recipient_id": sender, "text": variants[0].get("text", "")}])

        return bp


if __name__ == "__main__":
    # Run the importable module, not this `__main__` copy of it: the channels import
    # bot.rasa_runtime, and both must share one SERVING.
    from bot.rasa_runtime import main as run_main

    run_main()
