"""Urgency in the customer's own words, on the live assistant (`make eval`, issue 22).

Every phrasing in tests/nlu/urgency_holdout.yml (our own, never trained on) is sent as the
first message of a fresh conversation to the assistant as `make run` starts it. From each
conversation's tracker:

- **decided**: what the actions act on, `bot.people.urgency.urgency_of` over the message and
  what the NLU heard (the user event's `urgency`), against the knowledge file's words alone;
- **offered a person**: the turn offered a person or started the hand-over;
- **emergency advice**: the turn sent `utter_emergency_help`.

Precision and recall are reported apart for time-critical and safety: a false "safety" puts a
customer ahead of everyone else in the queue.

    .venv/bin/python scripts/eval_urgency.py --out docs/nlu-evaluation.md
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_surge import ours_servers, write_between
from eval_customers import first_messages

from bot.core.clock import utcnow
from bot.core.settings import PROJECT_ROOT, load_settings
from bot.db.models import Urgency
from bot.knowledge.file import Knowledge, load_knowledge
from bot.people.urgency import heard, in_words, urgency_of
from common.nlu_metrics import precision_recall

HOLDOUT = PROJECT_ROOT / "tests" / "nlu" / "urgency_holdout.yml"
REQUIRED = "I'll lose my job if I can't divert my calls today"  # issue 22's own example
HAND_OVER = {"action_human_contact", "escalation_form"}
CONCURRENCY = 8


@dataclass(frozen=True)
class Turn:
    """What the live assistant made of one message."""

    gold: str
    text: str
    parse_data: dict[str, Any]
    offered: bool
    emergency: bool


def read_holdout(path: Path = HOLDOUT) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [(str(gold), str(text)) for gold in ("time_critical", "safety", "normal") for text in data[gold]]


def first_turn(events: list[dict[str, Any]]) -> tuple[dict[str, Any], bool, bool]:
    """The first user message's parse data; whether that turn offered a person (or began the
    hand-over); whether it sent emergency advice."""
    parse_data: dict[str, Any] = {}
    offered = emergency = seen_user = False
    for event in events:
        kind = event.get("event")
        if kind == "user":
            if seen_user:
                break
            seen_user, parse_data = True, dict(event.get("parse_data") or {})
        elif not seen_user:
            continue
        elif kind == "slot" and event.get("name") == "offered_escalation":
            offered = offered or event.get("value") is True
        elif kind == "action" and event.get("name") in HAND_OVER:
            offered = True
        elif kind == "bot" and (event.get("metadata") or {}).get("utter_action") == "utter_emergency_help":
            emergency = True
    return parse_data, offered, emergency


def intent(turn: Turn) -> str | None:
    found = turn.parse_data.get("intent")
    return str(found.get("name")) if isinstance(found, dict) else None


def label(urgency: Urgency | None) -> str:
    return urgency.value if urgency is not None else Urgency.NORMAL.value


def report(turns: list[Turn], knowledge: Knowledge) -> str:
    gold = [t.gold for t in turns]
    decided = [label(urgency_of(t.text, knowledge, t.parse_data)) for t in turns]
    floor = [label(in_words(t.text, knowledge)) for t in turns]
    alone = [label(heard(t.parse_data)) for t in turns]

    def cells(predicted: list[str], name: str) -> str:
        precision, recall, said, truly = precision_recall(gold, predicted, name)
        return f"{precision:.2f} ({said}) | {recall:.2f} ({truly})"

    urgent = [t for t in turns if t.gold != "normal"]
    safety = [t for t in turns if t.gold == "safety"]
    # Asking for a person and getting one is not an urgency reading.
    normal = [t for t in turns if t.gold == "normal" and intent(t) != "request_human"]
    required = next((t for t in turns if t.text == REQUIRED), None)
    share = lambda hits, of: f"{sum(hits)}/{len(of)} ({sum(hits) / len(of):.0%})"  # noqa: E731
    lines = [
        f"Measured {utcnow():%Y-%m-%d} with `.venv/bin/python scripts/eval_urgency.py` on {len(turns)} unseen "
        f"phrasings of our own ({len(urgent) - len(safety)} time-critical, {len(safety)} safety, "
        f"{len(turns) - len(urgent)} normal), each the first message of a fresh conversation with the live assistant.",
        "",
        "| urgency from | time-critical precision (said) | recall (of) | safety precision (said) | recall (of) |",
        "|---|---|---|---|---|",
        f"| classifier + knowledge-file words (what the actions use) | {cells(decided, 'time_critical')} | "
        f"{cells(decided, 'safety')} |",
        f"| classifier alone | {cells(alone, 'time_critical')} | {cells(alone, 'safety')} |",
        f"| knowledge-file words alone (before) | {cells(floor, 'time_critical')} | {cells(floor, 'safety')} |",
        "",
        f"- Offered a person in the first reply: {share([t.offered for t in urgent], urgent)} of the urgent "
        f"phrasings; {share([t.offered for t in normal], normal)} of the normal ones that did not ask for one.",
        f"- Emergency advice first: {share([t.emergency for t in safety], safety)} of the safety phrasings; "
        f"{share([t.emergency for t in turns if t.gold != 'safety'], [t for t in turns if t.gold != 'safety'])} "
        "of the others.",
    ]
    if required is not None:
        lines.append(
            f'- "{REQUIRED}": decided {label(urgency_of(required.text, knowledge, required.parse_data))}, '
            f"{'offered a person' if required.offered else 'NOT offered a person'}."
        )
    return "\n".join(lines)


async def run(rasa: str, token: str, rows: list[tuple[str, str]]) -> list[Turn]:
    conversations = await first_messages(rasa, token, [text for _, text in rows])
    return [Turn(gold, text, *first_turn(events)) for (gold, text), events in zip(rows, conversations, strict=True)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "results" / "urgency.md")
    args = parser.parse_args()
    rows = read_holdout()
    knowledge = load_knowledge(load_settings().knowledge_file)
    with tempfile.TemporaryDirectory() as var, ours_servers(Path(var)) as servers:
        turns = asyncio.run(run(servers.rasa_url, servers.token, rows))
    text = report(turns, knowledge)
    print(text)
    write_between(args.out, "urgency-table", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
