"""rasa_plugins.runtime, run where it runs: in Rasa's own environment (.venv-rasa), on a real
SQLite tracker store. Each case is a small script; a failed assertion there fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.settings import PROJECT_ROOT
from tests.rasa_plugins.rasa_env import run_in_rasa

TRACKERS = """
import asyncio, sys
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_plugins.tracker_store import SafeSQLTrackerStore

def tracker(sender):
    return DialogueStateTracker.from_events(sender, [UserUttered("hi")])
"""


def test_upstream_store_exits_on_a_lone_surrogate_and_ours_fails_only_that_conversation(tmp_path: Path) -> None:
    out = run_in_rasa(
        TRACKERS
        + """
url = f"sqlite:///{sys.argv[1]}/tracker.db"
upstream = SQLTrackerStore(Domain.empty(), host=url)
try:
    asyncio.run(upstream.save(tracker("\\ud800")))
except SystemExit:
    print("upstream exits")
ours = SafeSQLTrackerStore(Domain.empty(), host=url)
try:
    asyncio.run(ours.save(tracker("\\ud800")))
except SystemExit:
    print("ours exits")
except UnicodeEncodeError:
    print("ours raises")
asyncio.run(ours.save(tracker("someone-else")))
print("others saved:", len(asyncio.run(ours.retrieve("someone-else")).events) > 0)
""",
        tmp_path,
    )
    assert "upstream exits" in out  # the upstream behaviour the subclass exists for
    assert "ours raises" in out and "ours exits" not in out
    assert "others saved: True" in out


def test_honest_store_lets_a_failure_through_where_upstream_starts_afresh(tmp_path: Path) -> None:
    out = run_in_rasa(
        TRACKERS
        + """
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa_plugins.tracker_store import HonestTrackerStore, install_honest_tracker_store

class Broken(SQLTrackerStore):
    async def retrieve(self, sender_id):
        raise ConnectionError("database is down")
    async def save(self, tracker):
        raise ConnectionError("database is down")

broken = Broken(Domain.empty(), host=f"sqlite:///{sys.argv[1]}/t.db")
print("upstream retrieve:", asyncio.run(FailSafeTrackerStore(broken).retrieve("x")))
for call in (lambda s: s.retrieve("x"), lambda s: s.save(tracker("x"))):
    try:
        asyncio.run(call(HonestTrackerStore(broken)))
    except ConnectionError:
        print("honest raises")
install_honest_tracker_store()
import rasa.core.agent
print("agent uses:", rasa.core.agent.Agent._create_tracker_store(broken, Domain.empty()).__class__.__name__)
""",
        tmp_path,
    )
    assert "upstream retrieve: None" in out  # Rasa would treat the message as a new conversation
    assert out.count("honest raises") == 2
    assert "agent uses: HonestTrackerStore" in out


def test_the_launcher_takes_the_token_from_the_environment_only(tmp_path: Path) -> None:
    out = run_in_rasa(
        """
from rasa_plugins.runtime import rasa_argv
argv = rasa_argv(["run", "--port", "5005"], {"RASA_AUTH_TOKEN": "t" * 32})
print(argv[:4], argv.count("t" * 32))
for bad_argv, env in ((["run", "--auth-token", "x"], {"RASA_AUTH_TOKEN": "t"}), (["run"], {})):
    try:
        rasa_argv(bad_argv, env)
    except SystemExit as exc:
        print("refused:", exc)
""",
        tmp_path,
    )
    assert "['rasa', 'run', '--port', '5005'] 2" in out  # as --auth-token and --jwt-secret
    assert "refused: pass the token in the RASA_AUTH_TOKEN environment variable" in out
    assert "refused: RASA_AUTH_TOKEN is not set" in out


def test_message_checks_cover_id_channel_and_metadata(tmp_path: Path) -> None:
    out = run_in_rasa(
        """
from rasa.core.channels.channel import UserMessage
from rasa_plugins.inputs import message_problem
cases = [
    UserMessage("hi", sender_id="ok-1", input_channel="webchat"),
    UserMessage("hi", sender_id="\\ud800", input_channel="webchat"),
    UserMessage("hi", sender_id="ok-2", input_channel="Web Chat"),
    UserMessage("hi", sender_id="ok-3", input_channel="rest", metadata={"x": "y" * 9000}),
    UserMessage("hi", sender_id="ok-4", input_channel="rest", metadata={"x": object()}),
]
for message in cases:
    print(repr(message_problem(message)))
""",
        tmp_path,
    )
    lines = out.strip().splitlines()
    assert lines[0] == "None"
    assert "conversation id" in lines[1] and "input_channel" in lines[2]
    assert "larger than" in lines[3] and "plain JSON" in lines[4]


def test_a_coroutine_that_never_awaits_runs_to_its_end_on_any_thread(tmp_path: Path) -> None:
    out = run_in_rasa(
        """
import asyncio, threading
from rasa_plugins.speedups import finish_without_suspending
async def plain():
    return threading.current_thread().name
async def waits():
    await asyncio.sleep(0)
t = threading.Thread(target=lambda: print("ran on:", finish_without_suspending(plain())), name="worker")
t.start(); t.join()
try:
    finish_without_suspending(waits())
except RuntimeError as exc:
    print("refused:", exc)
""",
        tmp_path,
    )
    assert "ran on: worker" in out
    assert "refused: the coroutine awaited something" in out


def test_nlu_threads_setting_is_checked(tmp_path: Path) -> None:
    out = run_in_rasa(
        """
from rasa_plugins.speedups import nlu_threads
print(nlu_threads({}), nlu_threads({"NLU_THREADS": "2"}), nlu_threads({"NLU_THREADS": "0"}))
for bad in ("", "x", "17", "-1"):
    try:
        nlu_threads({"NLU_THREADS": bad})
    except SystemExit as exc:
        print("refused:", exc)
""",
        tmp_path,
    )
    assert out.startswith("1 2 0")  # 0: on the event loop, as Rasa does
    assert out.count("refused: NLU_THREADS must be a whole number from 0 to 16") == 4


def test_messages_are_parsed_off_the_event_loop_with_the_same_result(tmp_path: Path) -> None:
    """With the trained model: the parse runs on an "nlu" thread, gives what Rasa's own
    parse gives, and the event loop keeps running (a ticker advances) while it does."""
    model = PROJECT_ROOT / "models" / "outage-assistant.tar.gz"
    if not model.is_file():
        pytest.fail("no trained model; make test trains it first")
    out = run_in_rasa(
        f"""
import asyncio, threading
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa_plugins.speedups import install_nlu_off_loop

agent = Agent.load("{model}")
threads = []
graph_run = agent.processor.graph_runner.run
def traced(*args, **kwargs):
    threads.append(threading.current_thread().name)
    return graph_run(*args, **kwargs)
agent.processor.graph_runner.run = traced

async def main():
    expected = await agent.parse_message("I can't top up my phone")  # Rasa's own path
    install_nlu_off_loop(1)
    ticks = 0
    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)
    task = asyncio.create_task(ticker())
    message = UserMessage("I can't top up my phone", sender_id="off-loop")
    tracker = await agent.processor.fetch_tracker_and_update_session("off-loop")
    await agent.processor._handle_message_with_tracker(message, tracker)
    task.cancel()
    print("same intent:", message.parse_data["intent"]["name"] == expected["intent"]["name"])
    print("intent:", message.parse_data["intent"]["name"])
    print("nlu thread:", any(name.startswith("nlu") for name in threads))
    print("loop ran meanwhile:", ticks > 1)
    print("logged:", tracker.latest_message.intent["name"])

asyncio.run(main())
""",
        tmp_path,
    )
    assert "same intent: True" in out and "intent: top_up" in out
    assert "nlu thread: True" in out
    assert "loop ran meanwhile: True" in out
    assert "logged: top_up" in out


def test_action_results_are_still_validated_against_rasas_schema(tmp_path: Path) -> None:
    out = run_in_rasa(
        """
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa_plugins.speedups import install_action_result_validator
install_action_result_validator()
action = RemoteAction.__new__(RemoteAction)
good = {"events": [{"event": "slot", "name": "service", "value": "top_up"}], "responses": [{"text": "hi"}]}
print("good:", action._validate_action_result(good))
for bad in ({"events": [{"event": 5}]}, {"responses": "not a list"}, {"events": [{"event": "slot", "timestamp": "x"}]}):
    try:
        action._validate_action_result(bad)
        print("bad accepted")
    except ValidationError as e:
        print("bad refused:", "Failed to validate Action server response" in e.message)
""",
        tmp_path,
    )
    assert "good: True" in out
    assert out.count("bad refused: True") == 3 and "bad accepted" not in out


def test_cached_trackers_equal_what_upstream_reads_and_see_other_servers_writes(tmp_path: Path) -> None:
    """Our retrieve gives the events Rasa's own store reads from the same rows (after a new
    conversation, later turns, a new session, and another server's write), parses rows only
    when the conversation changed elsewhere, and never writes a row twice."""
    out = run_in_rasa(
        """
import asyncio, sys, time
import rasa_plugins.tracker_store as rt
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

domain = Domain.from_yaml('''
version: "3.1"
intents: [greet]
slots:
  service:
    type: text
    mappings: [{type: custom}]
''')
url = f"sqlite:///{sys.argv[1]}/tracker.db"
stores = (rt.SafeSQLTrackerStore, rt.SafeSQLTrackerStore, SQLTrackerStore)
ours, other, upstream = (cls(domain, host=url) for cls in stores)
parsed = []
real = rt.deserialise_events
rt.deserialise_events = lambda rows: parsed.append(len(rows)) or real(rows)

def turn(text, t):
    return [ActionExecuted("action_listen", timestamp=t), UserUttered(text, {"name": "greet"}, timestamp=t + 0.1),
            SlotSet("service", text, timestamp=t + 0.2)]

def same(label):
    a = asyncio.run(ours.retrieve("c"))
    b = asyncio.run(upstream.retrieve("c"))
    print(label, [e.as_dict() for e in a.events] == [e.as_dict() for e in b.events], a.get_slot("service"))

async def save(store, tracker):
    await store.save(tracker)

t0 = time.time()
tracker = DialogueStateTracker.from_events("c", [ActionExecuted("action_session_start", timestamp=t0),
    SessionStarted(timestamp=t0 + 0.01), *turn("top_up", t0 + 1)], domain.slots)
asyncio.run(save(ours, tracker))
same("new conversation:")
for i in range(2, 6):
    tracker = asyncio.run(ours.retrieve("c"))
    for e in turn(f"turn{i}", t0 + i):
        tracker.update(e)
    asyncio.run(save(ours, tracker))
same("later turns:")
print("rows parsed by ours after its own saves:", parsed)
tracker = asyncio.run(other.retrieve("c"))  # another server takes a turn
for e in turn("roaming", t0 + 10):
    tracker.update(e)
asyncio.run(save(other, tracker))
same("after another server's turn:")
tracker = asyncio.run(ours.retrieve("c"))
for e in [ActionExecuted("action_session_start", timestamp=t0 + 20), SessionStarted(timestamp=t0 + 20.01),
          SlotSet("service", "roaming", timestamp=t0 + 20.02), *turn("email", t0 + 21)]:
    tracker.update(e)
asyncio.run(save(ours, tracker))
same("new session:")
full = asyncio.run(upstream.retrieve_full_tracker("c"))
print("rows:", len(full.events), "distinct:", len({(e.type_name, e.timestamp) for e in full.events}))
print("unknown:", asyncio.run(ours.retrieve("nobody")))
""",
        tmp_path,
    )
    assert "new conversation: True top_up" in out
    assert "later turns: True turn5" in out
    assert "rows parsed by ours after its own saves: []" in out  # read from memory, not parsed again
    assert "after another server's turn: True roaming" in out
    assert "new session: True email" in out
    rows = out.split("rows: ")[1].split()
    assert rows[0] == rows[2]  # every row once
    assert "unknown: None" in out


def test_incremental_states_equal_rasas_own_at_every_step_of_a_conversation(tmp_path: Path) -> None:
    """On the trained model's domain: a 40-turn conversation grown event by event, rebuilt
    from the same event objects each turn as the tracker store does, gives exactly Rasa's
    states for every argument the policies use; a form, a restart and a revert fall back."""
    model = PROJECT_ROOT / "models" / "outage-assistant.tar.gz"
    if not model.is_file():
        pytest.fail("no trained model; make test trains it first")
    out = run_in_rasa(
        f"""
import copy, random
from rasa.core.agent import Agent
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActiveLoop, BotUttered, Restarted, SessionStarted, SlotSet,
    UserUttered, UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_plugins.speedups import install_incremental_states

domain = Agent.load("{model}").domain
upstream = Domain.states_for_tracker_history
fallbacks = []
def counted(self, tracker, *args):
    fallbacks.append(1)
    return upstream(self, tracker, *args)
Domain.states_for_tracker_history = counted  # what the incremental path falls back to
install_incremental_states()
random.seed(7)
intents = [i for i in domain.intents if not i.startswith("EXTERNAL")][:12]
actions = ["action_service_status", "action_eta", "utter_greet", "action_outage_overview", "action_compensation"]
rule_only = {{"slots": ["offered_escalation"], "active_loops": []}}
variants = [(False, False, None), (True, False, None), (False, True, rule_only), (True, True, rule_only)]

def check(events, label):
    tracker = DialogueStateTracker.from_events("conv", events, domain.slots)
    for args in variants:
        theirs = upstream(domain, copy.deepcopy(tracker), *args)
        ours = domain.states_for_tracker_history(tracker, *args)
        if ours != theirs:
            print("DIFFERENT", label, args)
            return False
    return True

events = [SessionStarted(), ActionExecuted("action_listen")]
same = True
for turn in range(40):
    intent = random.choice(intents)
    entities = [{{"entity": "service", "value": "top_up"}}] if random.random() < 0.3 else []
    events.append(UserUttered(f"text {{turn}}", {{"name": intent, "confidence": 0.9}}, entities))
    if entities:
        events.append(SlotSet("service", "top_up"))
    same &= check(events, f"turn {{turn}} user")
    events.append(ActionExecuted(random.choice(actions)))
    events.append(BotUttered(f"reply {{turn}}"))
    if random.random() < 0.3:
        events.append(SlotSet("offered_escalation", random.random() < 0.5))
    same &= check(events, f"turn {{turn}} action")
    events.append(ActionExecuted("action_listen"))
print("same at every step:", same)
print("fallbacks in 40 turns:", len(fallbacks))
for label, extra in (
    ("form", [ActionExecuted("escalation_form"), ActiveLoop("escalation_form")]),
    ("restart", [Restarted(), ActionExecuted("action_listen")]),
    ("revert", [UserUtteranceReverted()]),
):
    print(label, "same:", check(events + extra, label))
"""
        + "",
        tmp_path,
    )
    assert "DIFFERENT" not in out, out
    assert "same at every step: True" in out
    assert "fallbacks in 40 turns: 0" in out  # the incremental path itself was what matched
    assert "form same: True" in out and "restart same: True" in out and "revert same: True" in out
