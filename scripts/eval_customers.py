"""What a real customer's first message gets from the live assistant (`make eval`, issue 22).

Every message of the real-message benchmark is sent, as the first message of a fresh
conversation, to the assistant as `make run` starts it (Rasa, action server, the demo outage),
through the REST channel. Each reply is judged from the conversation's tracker, by the action
Rasa chose and what it set, never by the wording:

- **addresses the topic**: the action the rules give the gold intent ran (for a service's
  intent, about that service: the `service` slot it set, if it set one, is the gold one);
- **asks, offering the topic**: a clarifying question whose buttons include the gold intent;
- **something else**: any other action, or a service answer about another service.

The benchmark's texts are read here and sent to the local servers only; nothing of them is
written anywhere but the three shares, by intent and source.

    .venv/bin/python scripts/eval_customers.py --out docs/nlu-evaluation.md
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_surge import ours_servers, write_between

from bot.core.clock import utcnow
from bot.core.settings import PROJECT_ROOT
from bot.knowledge.catalogue import CONNECTIVITY, CONNECTIVITY_SERVICES, INTENT_SERVICE
from bot.rasa_api import RasaAuth

BENCHMARK = PROJECT_ROOT.parent / "shared" / "benchmarks" / "customer_messages.tsv"
KINDS = ("addresses the topic", "asks, offering the topic", "something else")
CONCURRENCY = 8


def rule_actions() -> dict[str, str]:
    """Intent -> the action a two-step rule runs for it (data/rules), the first rule winning."""
    actions: dict[str, str] = {}
    for path in sorted((PROJECT_ROOT / "data" / "rules").glob("*.yml")):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8")).get("rules") or []:
            steps = rule.get("steps") or []
            if rule.get("condition") or len(steps) < 2:
                continue
            intent, action = steps[0].get("intent"), steps[1].get("action")
            if intent and action:
                actions.setdefault(str(intent), str(action))
    return actions


def first_turn(events: list[dict[str, Any]]) -> tuple[str | None, str | None, list[str]]:
    """The first action after the customer's first message, the `service` slot set in that turn,
    and the payloads of the buttons the assistant sent."""
    seen_user = False
    action = service = None
    payloads: list[str] = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            if seen_user:
                break
            seen_user = True
        elif not seen_user:
            continue
        elif kind == "action" and event.get("name") != "action_listen" and action is None:
            action = str(event.get("name"))
        elif kind == "slot" and event.get("name") == "service" and isinstance(event.get("value"), str):
            service = service or str(event["value"])
        elif kind == "bot":
            buttons = (event.get("data") or {}).get("buttons") or []
            payloads += [str(b.get("payload")) for b in buttons if isinstance(b, dict)]
    return action, service, payloads


def judge(gold: str, action: str | None, service: str | None, payloads: list[str], rules: dict[str, str]) -> str:
    if action == "action_clarify":
        return KINDS[1] if f"/{gold}" in payloads else KINDS[2]
    if action is None or action != rules.get(gold):
        return KINDS[2]
    if gold in INTENT_SERVICE and service is not None and service != INTENT_SERVICE[gold]:
        return KINDS[2]
    if gold == CONNECTIVITY and service is not None and service not in CONNECTIVITY_SERVICES:
        return KINDS[2]
    return KINDS[0]


async def first_messages(rasa: str, token: str, texts: list[str]) -> list[list[dict[str, Any]]]:
    """Each text as the first message of a fresh conversation, `CONCURRENCY` at a time, through
    the REST channel; each conversation's events, from its tracker."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(client: httpx.AsyncClient, text: str) -> list[dict[str, Any]]:
        sender = f"eval-{uuid.uuid4().hex[:12]}"
        async with gate:
            sent = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
            sent.raise_for_status()
            tracker = await client.get(f"/conversations/{sender}/tracker", auth=RasaAuth(token))
            tracker.raise_for_status()
        return list(tracker.json().get("events") or [])

    async with httpx.AsyncClient(base_url=rasa, timeout=120) as client:
        return list(await asyncio.gather(*(one(client, text) for text in texts)))


async def run(rasa: str, token: str, rows: list[tuple[str, str, str]]) -> list[str]:
    rules = rule_actions()
    conversations = await first_messages(rasa, token, [text for _, _, text in rows])
    return [judge(gold, *first_turn(events), rules) for (_, gold, _), events in zip(rows, conversations, strict=True)]


def read(path: Path) -> list[tuple[str, str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[2].strip():
            rows.append((parts[0], parts[1], parts[2]))
    return rows


def table(rows: list[tuple[str, str, str]], kinds: list[str]) -> str:
    def shares(picked: list[str]) -> str:
        counts = Counter(picked)
        return " | ".join(f"{counts[k] / len(picked):.1%}" for k in KINDS)

    by_intent: defaultdict[str, list[str]] = defaultdict(list)
    by_source: defaultdict[str, list[str]] = defaultdict(list)
    for (source, gold, _), kind in zip(rows, kinds, strict=True):
        by_intent[gold].append(kind)
        by_source[source].append(kind)
    head = "| " + " | ".join(KINDS) + " |"
    lines = [
        f"Measured {utcnow():%Y-%m-%d} with `.venv/bin/python scripts/eval_customers.py` on {len(rows)} real messages.",
        "",
        f"| | n {head}",
        "|---|---:|---:|---:|---:|",
        f"| **all** | {len(kinds)} | {shares(kinds)} |",
    ]
    lines += [f"| {intent} | {len(k)} | {shares(k)} |" for intent, k in sorted(by_intent.items())]
    lines += ["", f"| source | n {head}", "|---|---:|---:|---:|---:|"]
    lines += [f"| {source} | {len(k)} | {shares(k)} |" for source, k in sorted(by_source.items())]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", type=Path, default=BENCHMARK)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "results" / "customer-level.md")
    args = parser.parse_args()
    if not args.benchmark.is_file():
        print(f"no benchmark at {args.benchmark}", file=sys.stderr)
        return 2
    rows = read(args.benchmark)
    with tempfile.TemporaryDirectory() as var, ours_servers(Path(var)) as servers:
        kinds = asyncio.run(run(servers.rasa_url, servers.token, rows))
    report = table(rows, kinds)
    print(report)
    write_between(args.out, "customer-table", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
