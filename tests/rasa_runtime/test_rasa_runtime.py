"""bot.rasa_runtime, run where it runs: in Rasa's own environment (.venv-rasa), on a real
SQLite tracker store. Each case is a small script; a failed assertion there fails here."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"


def run_in_rasa(script: str, tmp_path: Path) -> str:
    if not RASA_PYTHON.is_file():
        pytest.skip("Rasa's environment is not installed (make setup)")
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", textwrap.dedent(script), str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "RASA_TELEMETRY_ENABLED": "false"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


TRACKERS = """
import asyncio, sys
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from bot.rasa_runtime import SafeSQLTrackerStore

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
from bot.rasa_runtime import HonestTrackerStore, install_honest_tracker_store

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
from bot.rasa_runtime import rasa_argv
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
from bot.rasa_runtime import message_problem
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
from bot.rasa_runtime import finish_without_suspending
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
from bot.rasa_runtime import nlu_threads
print(nlu_threads({}), nlu_threads({"NLU_THREADS": "2"}))
for bad in ("0", "x", "17", "-1"):
    try:
        nlu_threads({"NLU_THREADS": bad})
    except SystemExit as exc:
        print("refused:", exc)
""",
        tmp_path,
    )
    assert out.startswith("1 2")
    assert out.count("refused: NLU_THREADS must be a whole number from 1 to 16") == 4


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
from bot.rasa_runtime import install_nlu_off_loop

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
