"""The staff queue on an outage day (`make bench`, after the web chat benchmark).

1. **The page at scale.** The web app as `make run` starts it, its store holding 200, then
   1,000, then 10,000 active escalations (a few safety and time-critical ones among them, half
   linked to the demo incident). For each: the default queue page (most urgent first, with
   every total), a deep page, one incident's escalations, and the live console's
   "what changed" poll, each fetched over HTTP by a logged-in agent, median of many.
   On SQLite, and on PostgreSQL when one is reachable (TEST_POSTGRES_URL).
2. **The safety case behind 300.** The whole assistant (Rasa, action server, web app):
   300 customers ask for a person through the REST channel and finish the form, 16 at a
   time, then one safety case does. Then the default page is fetched: whether the safety
   case heads it, how many it says wait, and how long it takes.

The machines are shared and noisy: figures are medians, compared with 200 rows in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_surge import ours_servers, write_between

from bot.core.clock import utcnow
from bot.core.settings import PROJECT_ROOT, load_settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.models import EscalationLink, Incident, StaffRole, Urgency
from bot.ops.run import prepare_store
from bot.ops.servers import Servers
from bot.people.staff import create_user
from tests.conftest import POSTGRES_URL
from tests.escalation_rows import insert_waiting
from tests.support.servers import isolated_env

PASSWORD = "correct horse battery"
SIZES = (200, 1_000, 10_000)
REPEATS = 30


def login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    form = client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text[:500]
    done = client.post("/console/login", data={"username": "bench", "password": PASSWORD, "csrf": token.group(1)})
    assert done.status_code == 303, done.text
    return client


def median_ms(client: httpx.Client, path: str, repeats: int = REPEATS) -> float:
    client.get(path)  # warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times)


@contextmanager
def web_only(var: Path, database_url: str | None) -> Iterator[Servers]:
    overrides = {"DATABASE_URL": database_url} if database_url else {}
    env = isolated_env(var, **overrides)
    settings = load_settings(env)
    prepare_store(settings)
    servers = Servers(settings=settings, env=env, token="unused-" + uuid.uuid4().hex, logs=var)
    try:
        servers.start_web()
        yield servers
    finally:
        servers.stop_all()


def fill(database_url: str, upto: int, have: int) -> None:
    """Add waiting escalations until `upto`: mostly normal, 1 in 1,000 safety, 1 in 50
    time-critical; every other one linked to the demo incident."""
    engine = make_engine(database_url)
    now = utcnow()
    count = upto - have
    safety = max(1, count // 1000)
    urgent = count // 50
    insert_waiting(engine, count - safety - urgent, now, prefix=f"n{have}")
    insert_waiting(engine, urgent, now, prefix=f"u{have}", urgency=Urgency.TIME_CRITICAL)
    insert_waiting(engine, safety, now, prefix=f"s{have}", urgency=Urgency.SAFETY)
    with make_session_factory(engine).begin() as session:
        incident = session.execute(text("SELECT id FROM incident ORDER BY id LIMIT 1")).scalar_one()
        rows = session.execute(
            text("SELECT id FROM escalation WHERE id NOT IN (SELECT escalation_id FROM escalation_link)")
        ).all()
        session.add_all(
            EscalationLink(escalation_id=int(r[0]), incident_id=int(incident), service_key="top_up") for r in rows[::2]
        )
    engine.dispose()


def page_at_scale(database_url: str | None, label: str) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, web_only(Path(tmp), database_url) as servers:
        url = servers.settings.database_url
        engine = make_engine(url)
        with make_session_factory(engine).begin() as session:
            create_user(session, "bench", PASSWORD, StaffRole.AGENT, utcnow(), actor="bench")
            incident = session.scalars(select(Incident.id).order_by(Incident.id)).first()
        engine.dispose()
        client = login(servers.web_url)
        have = 0
        for size in SIZES:
            fill(url, size, have)
            have = size
            default = median_ms(client, "/console")
            page = client.get("/console").text
            first = re.search(r'class="(safety|time_critical|normal)">', page)
            deep = median_ms(client, f"/console?page={max(1, size // 50 - 1)}")
            linked = median_ms(client, f"/console?incident={incident}")
            poll = median_ms(client, "/console/queue/changes")
            rows.append(
                f"| {label} | {size:,} | {default:.0f} | {deep:.0f} | {linked:.0f} | {poll:.1f} |"
                f" {first.group(1) if first else '?'} |"
            )
            print(rows[-1], flush=True)
        client.close()
    return rows


def postgres_url() -> str | None:
    """A fresh database on the local PostgreSQL server, or None without one."""
    try:
        admin = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3}, isolation_level="AUTOCOMMIT")
        name = f"bench_queue_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:  # no server here: the SQLite figures stand alone
        print(f"PostgreSQL not reachable ({exc.__class__.__name__}); SQLite only", flush=True)
        return None
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"


def drop(url: str) -> None:
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


async def escalate(rasa: str, sender: str, urgency_answer: str, first: str) -> str:
    async with httpx.AsyncClient(timeout=120) as client:
        said = []
        steps = [first, f"021 {uuid.uuid4().int % 10**7:07d}", "please call me about my top-up"]
        for text_ in [*steps, urgency_answer] if urgency_answer else steps:
            response = await client.post(f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text_})
            response.raise_for_status()
            said += [r.get("text", "") for r in response.json()]
        return " ".join(said)


def safety_behind_300() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp, ours_servers(Path(tmp), web=True) as servers:
        with make_session_factory(make_engine(servers.settings.database_url)).begin() as session:
            create_user(session, "bench", PASSWORD, StaffRole.AGENT, utcnow(), actor="bench")

        async def crowd() -> list[str]:
            gate = asyncio.Semaphore(16)

            async def one(i: int) -> str:
                async with gate:
                    return await escalate(servers.rasa_url, f"crowd-{i}", "No, it can wait", "I need a real person")

            return list(await asyncio.gather(*(one(i) for i in range(300))))

        start = time.perf_counter()
        answers = asyncio.run(crowd())
        crowd_s = time.perf_counter() - start
        stored = sum("ESC-" in a for a in answers)
        safety = asyncio.run(
            escalate(
                servers.rasa_url,
                "safety-1",
                "it's for the alarm",
                "I need someone, my dad's medical alarm runs on this landline",
            )
        )
        reference = re.search(r"ESC-\d+", safety)
        client = login(servers.web_url)
        load = median_ms(client, "/console", repeats=10)
        page = client.get("/console").text
        client.close()
        first = re.search(r'<a href="/console/escalations/\d+">(ESC-\d+)</a>', page)
        waiting = re.search(r'<strong id="waiting">(\d+)</strong>', page)
        heads = bool(reference and first and first.group(1) == reference.group(0))
        return [
            f"| 300 customers through the REST form, 16 at a time | {crowd_s:.1f} s; {stored} references given |",
            f"| the safety case after them | {reference.group(0) if reference else 'no reference'} |",
            f"| heads the default queue page | {'yes' if heads else 'NO'} |",
            f"| the page says waiting in all | {waiting.group(1) if waiting else '?'} |",
            f"| default page load (median of 10) | {load:.0f} ms |",
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--parts", default="page,safety", help="which of page, safety to run")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    stamp = utcnow().strftime("%Y-%m-%d")
    if "page" in parts:
        rows = page_at_scale(None, "SQLite")
        pg = postgres_url()
        if pg:
            try:
                rows += page_at_scale(pg, "PostgreSQL")
            finally:
                drop(pg)
        head = [
            f"Measured {stamp} with `python scripts/bench_queue.py --parts page` (medians of {REPEATS} requests, ms):",
            "",
            "| store | active escalations | default page | next-to-last page | one incident's | change poll"
            " | first row |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        write_between(args.out, "queue-page", "\n".join(head + rows))
    if "safety" in parts:
        rows = safety_behind_300()
        print("\n".join(rows), flush=True)
        head = [
            f"Measured {stamp} with `python scripts/bench_queue.py --parts safety` (SQLite, one Rasa):",
            "",
            "| | |",
            "|---|---|",
        ]
        write_between(args.out, "queue-safety", "\n".join(head + rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
