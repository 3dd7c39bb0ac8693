"""Patches that make each message cheaper for Rasa 3.6 on a busy day (docs/benchmarks.md measures each).

- `install_nlu_off_loop`: a message's NLU runs on a worker thread, so one conversation's
  NLU does not stall the others.
- `install_action_result_validator`: the action server's answers are checked against Rasa's
  schema with a validator built once, not one that re-checks the schema on every call.
- `install_incremental_states`: the dialogue policies' view of a conversation (its list of
  states) is extended by the new events, not rebuilt from the first event, on every prediction.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import SessionStarted

logger = logging.getLogger(__name__)

NLU_THREADS_VARIABLE = "NLU_THREADS"
T = TypeVar("T")


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


# Messages handed to the NLU thread and not yet parsed, the one being parsed included.
# Changed only on the event loop; the NLU thread only reads it (an int read is atomic).
_BACKLOG = [0]


def nlu_backlog() -> int:
    """How many messages wait for the NLU thread (0 outside the Rasa server, e.g. evaluations)."""
    return _BACKLOG[0]


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
            _BACKLOG[0] += 1
            try:
                message.parse_data = await loop.run_in_executor(executor, finish_without_suspending, parsing)
            finally:
                _BACKLOG[0] -= 1
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
