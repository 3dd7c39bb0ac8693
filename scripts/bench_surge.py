"""The outage-day surge benchmark (`make bench`): ours against a stock Rasa bot, in one run.

Each target is started by this script on loopback with its own files and ports:

- **stock**: the bot `rasa init` makes (DIET + TED, no custom actions, in-memory tracker
  store), trained here once and kept under results/bench/;
- **ours**: the assistant as `make run` starts it (SQLite, in-memory lock store, the demo
  outage loaded, the incident-state cache at its default), one Rasa process;
- **scaled**: the assistant as `make run-scaled` starts it (several Rasa and action servers
  behind HAProxy, PostgreSQL tracker store, Redis lock store), when PostgreSQL, Redis and
  HAProxy are there.

The same driver runs a closed loop against each at 1, 8, 32 and 128 concurrent
conversations: every conversation is a fresh sender that asks 8 outage questions (each
runs a custom action that looks up the live incident state), and a worker starts a new
conversation when one ends, until the level's message count is reached. Latency is from
request to complete reply.
A non-200 answer or a timeout
is an error; a 200 with no reply at all is counted as "silent" (stock Rasa answers some of
these questions with nothing). Resident memory of each server process is read after the run.

The shared machines are noisy, so what counts is the ratio to stock Rasa taken in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.core.devsecrets import rasa_token
from bot.core.settings import PROJECT_ROOT, load_settings
from bot.ops.run import prepare_store
from bot.ops.servers import Servers, free_port, rasa_quiet_env, wait_for
from tests.support.scaled import drop_database, scale_out_problem, throwaway_scaled
from tests.support.servers import isolated_env

LEVELS = (1, 8, 32, 128)
TURNS = 8
# Outage questions in our own words (never the real-message benchmark's): each one is
# answered by a custom action that reads the incident state.
QUESTIONS = (
    "is there an outage at the moment?",
    "I can't top up my prepaid phone",
    "when will it be fixed?",
    "how do I turn on roaming before my flight",
    "my voicemail isn't working",
    "can I still make phone calls?",
    "I can't log in to the app",
    "is my broadband affected?",
)
LONG_TURNS = 60
LONG_CONVERSATIONS = 8
STOCK_DIR = PROJECT_ROOT / "results" / "bench" / "stock-rasa-3.6.21"


@dataclass
class Level:
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    silent: int = 0  # answered 200 with no reply at all (stock Rasa does, when no story fits)
    seconds: float = 0.0

    @property
    def replies_per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


@dataclass
class Target:
    name: str
    url: str
    pids: dict[str, int]
    levels: list[Level] = field(default_factory=list)
    rss_mib: dict[str, float] = field(default_factory=dict)


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def messages_for(concurrency: int) -> int:
    """Enough for stable percentiles at low concurrency; 8 per conversation at high."""
    return max(200, TURNS * concurrency)


async def closed_loop(url: str, concurrency: int, total: int, tag: str, timeout: float = 120) -> Level:
    level = Level(concurrency)
    tag = re.sub(r"[^A-Za-z0-9_-]+", "-", tag)  # conversation ids take no spaces or commas
    sent = 0
    conversations = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal sent, conversations
        while sent < total:
            conversations += 1
            sender = f"bench-{tag}-{concurrency}-{conversations}"
            start = conversations % len(QUESTIONS)
            for turn in range(TURNS):
                if sent >= total:
                    return
                sent += 1
                text = QUESTIONS[(start + turn) % len(QUESTIONS)]
                t0 = time.perf_counter()
                try:
                    response = await client.post(url, json={"sender": sender, "message": text})
                    replies = response.json() if response.status_code == 200 else None
                    detail = f"{response.status_code} {response.text[:200]!r}"
                except (httpx.HTTPError, ValueError) as exc:
                    replies, detail = None, repr(exc)
                if not isinstance(replies, list):
                    level.errors += 1
                    if level.errors == 1:  # the first error says what the rest are likely to be
                        print(f"first error at {concurrency} conversations: {detail}", file=sys.stderr, flush=True)
                    continue
                level.latencies_ms.append((time.perf_counter() - t0) * 1000)
                level.silent += not replies

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    level.seconds = time.perf_counter() - started
    return level


async def long_conversations(url: str, tag: str) -> list[list[float]]:
    """Latency of each turn of LONG_CONVERSATIONS conversations of LONG_TURNS messages, one at a time."""
    runs = []
    async with httpx.AsyncClient(timeout=120) as client:
        for n in range(LONG_CONVERSATIONS):
            sender, times = f"bench-long-{tag}-{n}", []
            for turn in range(LONG_TURNS):
                t0 = time.perf_counter()
                response = await client.post(url, json={"sender": sender, "message": QUESTIONS[turn % len(QUESTIONS)]})
                response.raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
            runs.append(times)
    return runs


def measure(target: Target, levels: tuple[int, ...]) -> None:
    asyncio.run(closed_loop(target.url, 4, 32, f"warm-{target.name}"))  # not measured
    for concurrency in levels:
        level = asyncio.run(closed_loop(target.url, concurrency, messages_for(concurrency), target.name))
        target.levels.append(level)
        print(
            f"{target.name:7} {concurrency:4} conv: {level.replies_per_second:6.1f} replies/s, "
            f"p50 {level.pct(0.5):6.0f} ms, p95 {level.pct(0.95):6.0f} ms, "
            f"errors {level.errors}, silent {level.silent}",
            flush=True,
        )
    target.rss_mib = {name: rss_mib(pid) for name, pid in target.pids.items()}


# --- the three targets ------------------------------------------------------------------------


def rasa_bin() -> Path:
    return Path(os.environ.get("RASA_BIN", PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"))


def stock_project() -> Path:
    """`rasa init`'s project, trained once (its model is kept for later runs)."""
    if list((STOCK_DIR / "models").glob("*.tar.gz")):
        return STOCK_DIR
    STOCK_DIR.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=STOCK_DIR.parent) as tmp:
        project = Path(tmp) / "stock"
        project.mkdir()
        print("training the stock `rasa init` bot (once)...", flush=True)
        subprocess.run(
            [str(rasa_bin()), "init", "--no-prompt", "--init-dir", str(project)],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **rasa_quiet_env()},
        )
        shutil.rmtree(STOCK_DIR, ignore_errors=True)
        project.rename(STOCK_DIR)
    return STOCK_DIR


@contextmanager
def stock_target(logs: Path) -> Iterator[Target]:
    project = stock_project()
    port = free_port()
    with (logs / "stock.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                str(rasa_bin()),
                "run",
                "--model",
                "models",
                "--port",
                str(port),
                "--interface",
                "127.0.0.1",
                "--enable-api",
                "--credentials",
                "credentials.yml",
                "--endpoints",
                "endpoints.yml",
            ],
            cwd=project,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **rasa_quiet_env()},
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/status", 240, [proc])
        yield Target("stock", f"http://127.0.0.1:{port}/webhooks/rest/webhook", {"rasa": proc.pid})
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def ours_servers(var: Path, web: bool = False, **overrides: str) -> Iterator[Servers]:
    """The assistant as `make run` starts it (the web app only if `web`), its files under `var`."""
    env = isolated_env(var, STATE_TTL_SECONDS="5", **overrides)
    settings = load_settings(env)
    prepare_store(settings)
    servers = Servers(settings=settings, env=env, token=rasa_token(settings), logs=var)
    try:
        servers.start_actions()
        servers.start_rasa()
        if web:
            servers.start_web()
        yield servers
    finally:
        servers.stop_all()


@contextmanager
def ours_target(var: Path, name: str = "ours", **overrides: str) -> Iterator[Target]:
    with ours_servers(var, **overrides) as servers:
        pids = {name: proc.pid for name, proc in servers.procs.items()}
        yield Target(name, f"{servers.rasa_url}/webhooks/rest/webhook", pids)


@contextmanager
def scaled_target(var: Path, replicas: int) -> Iterator[Target]:
    assistant = throwaway_scaled(var, replicas=replicas)
    try:
        assistant.start()
        yield Target(f"scaled-{replicas}", f"{assistant.url}/webhooks/rest/webhook", assistant.pids())
    finally:
        assistant.stop()
        drop_database(assistant)


# --- report ---------------------------------------------------------------------------------


def table(targets: list[Target]) -> str:
    stock = next((t for t in targets if t.name == "stock"), None)
    base = {lv.concurrency: lv for lv in stock.levels} if stock else {}
    rows = [
        "| bot | conversations | replies | errors | silent | replies/s | × stock "
        "| p50 ms | p95 ms | p99 ms | p95 ÷ p50 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for target in targets:
        for lv in target.levels:
            ref = base.get(lv.concurrency)
            ratio = f"{lv.replies_per_second / ref.replies_per_second:.2f}" if ref and ref.replies_per_second else "—"
            rows.append(
                f"| {target.name} | {lv.concurrency} | {len(lv.latencies_ms)} | {lv.errors} | {lv.silent} | "
                f"{lv.replies_per_second:.1f} | {ratio} | {lv.pct(0.5):.0f} | {lv.pct(0.95):.0f} | "
                f"{lv.pct(0.99):.0f} | {lv.pct(0.95) / lv.pct(0.5):.2f} |"
            )
    rows += ["", "Resident memory after the run (MiB):", ""]
    rows += [
        f"- {t.name}: " + ", ".join(f"{name} {mib:.0f}" for name, mib in sorted(t.rss_mib.items())) for t in targets
    ]
    return "\n".join(rows)


def long_table(runs: list[list[float]]) -> str:
    def median_at(turn: int) -> float:
        values = sorted(r[turn - 1] for r in runs)
        return values[len(values) // 2]

    turns = (1, 2, 10, 30, 60)
    head = "| message | " + " | ".join(str(t) for t in turns) + " |"
    row = "| median ms | " + " | ".join(f"{median_at(t):.0f}" for t in turns) + " |"
    ratio = median_at(60) / median_at(2)
    return (
        f"{head}\n|---|{'---|' * len(turns)}\n{row}\n\n"
        f"{len(runs)} conversations of {LONG_TURNS} messages, one at a time, on the one-process setup. "
        f"Message 60 ÷ message 2: **{ratio:.2f}** (message 1 also starts the session)."
    )


def chart(targets: list[Target], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for target in targets:
        xs = [lv.concurrency for lv in target.levels]
        left.plot(xs, [lv.replies_per_second for lv in target.levels], marker="o", label=target.name)
        right.plot(xs, [lv.pct(0.95) for lv in target.levels], marker="o", label=target.name)
    for axis, label in ((left, "replies/s"), (right, "p95 latency (ms)")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(list(LEVELS), [str(x) for x in LEVELS])
        axis.set_xlabel("concurrent conversations (closed loop)")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
        axis.legend()
    left.set_ylim(bottom=0)
    right.set_yscale("log")
    fig.suptitle("Outage Assistant against stock Rasa, one run on one 2-core machine (make bench)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)


def write_between(path: Path, marker: str, body: str) -> None:
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if start in text:
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        text = f"{head}{start}\n{body}\n{end}{tail}"
    else:
        text = f"{text}\n{start}\n{body}\n{end}\n"
    path.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--chart", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks-surge.png")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="concurrency levels, e.g. 1,32")
    parser.add_argument(
        "--targets",
        default="stock,ours,inloop,scaled",
        help="which of stock, ours, inloop (ours with the NLU on the event loop, at 1 and 32), scaled to run",
    )
    parser.add_argument("--replicas", type=int, default=2, help="Rasa and action servers in the scaled setup")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ as it is")
    args = parser.parse_args()
    levels = tuple(int(x) for x in args.levels.split(","))
    wanted = set(args.targets.split(","))
    targets: list[Target] = []
    long_runs: list[list[float]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        if "stock" in wanted:
            with stock_target(var) as target:
                measure(target, levels)
                targets.append(target)
        if "ours" in wanted:
            (var / "ours").mkdir()
            with ours_target(var / "ours") as target:
                measure(target, levels)
                long_runs = asyncio.run(long_conversations(target.url, "ours"))
                target.rss_mib = {name: rss_mib(pid) for name, pid in target.pids.items()}
                targets.append(target)
        if "inloop" in wanted:
            (var / "inloop").mkdir()
            with ours_target(var / "inloop", "ours, NLU on the loop", NLU_THREADS="0") as target:
                measure(target, tuple(c for c in levels if c in (1, 32)) or levels)
                targets.append(target)
        if "scaled" in wanted:
            problem = scale_out_problem()
            if problem:
                notes.append(f"The scaled-out setup was not measured: {problem}.")
                print(notes[-1], flush=True)
            else:
                (var / "scaled").mkdir()
                with scaled_target(var / "scaled", args.replicas) as target:
                    measure(target, levels)
                    targets.append(target)
    report = table(targets) + ("\n\n" + "\n".join(notes) if notes else "")
    print(report)
    if long_runs:
        print(long_table(long_runs))
    (PROJECT_ROOT / "results").mkdir(exist_ok=True)
    (PROJECT_ROOT / "results" / "bench.json").write_text(
        json.dumps(
            {
                "targets": [
                    {"name": t.name, "rss_mib": t.rss_mib, "levels": [lv.__dict__ for lv in t.levels]} for t in targets
                ],
                "long": long_runs,
            }
        ),
        encoding="utf-8",
    )
    if not args.no_write:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_between(args.out, "surge-table", f"Measured {stamp} with `make bench`.\n\n{report}")
        if long_runs:
            write_between(args.out, "long-table", long_table(long_runs))
        chart(targets, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
