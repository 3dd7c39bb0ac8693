"""The web chat on an outage day (`make bench`, after the surge benchmark): customers talking
through /chat/send while thousands of tabs stay open, how soon a message reaches an open tab,
a 200-turn conversation, and the rate limiter after 100,000 addresses.

Everything runs on this machine, on loopback: the assistant as `make run` starts it (web app,
Rasa, action server; SQLite), and this script as the customers. Tabs are spread over 100
loopback addresses (127.0.1.1 to 127.0.1.100), as many customers' browsers would be.

The shared machines are noisy, so each figure is compared with its own baseline taken in the
same run: replies with no tab open, turns 1-10 of the same conversation, the other customers'
median without the long conversation, and the limiter's first call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_surge import QUESTIONS, ours_servers, write_between

from bot.core.devsecrets import chat_secret
from bot.core.limits import LocalLimiter, RedisLimiter, redis_client
from bot.core.settings import PROJECT_ROOT
from bot.ops.servers import Servers
from bot.rasa_api import RasaApi
from bot.web.chat import COOKIE, verify
from tests.support.sse import StreamReader

ADDRESSES = [f"127.0.1.{i}" for i in range(1, 101)]
TALKERS = 8  # customers sending messages while the tabs are open
TALKER_TURNS = 6
PACE = 0.2  # seconds between the long (or short) conversation's messages


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Tabs:
    """Open chat tabs: each a conversation of its own, holding /chat/stream open."""

    def __init__(self, web: str) -> None:
        self.web = web
        self.clients = [
            httpx.AsyncClient(
                base_url=web,
                timeout=httpx.Timeout(30, read=None),
                transport=httpx.AsyncHTTPTransport(local_address=a, limits=httpx.Limits(max_connections=None)),
            )
            for a in ADDRESSES
        ]
        self.tasks: list[asyncio.Task[None]] = []
        self.received: dict[str, asyncio.Queue[float]] = {}
        self.failed = 0
        self.open = 0

    async def _tab(self, client: httpx.AsyncClient, ready: asyncio.Event) -> None:
        try:
            page = await client.get("/")
            cookie = page.cookies.get(COOKIE, "")
            client.cookies.clear()  # the next tab on this address is another customer
            queue: asyncio.Queue[float] = asyncio.Queue()
            self.received[cookie] = queue
            async with client.stream("GET", "/chat/stream", cookies={COOKIE: cookie}) as response:
                if response.status_code != 200:
                    self.failed += 1
                    return
                self.open += 1
                ready.set()
                reader = StreamReader()
                async for line in response.aiter_lines():
                    event = reader.feed(line)
                    if event is not None and event[0] == "message":  # a banner change is not a reply
                        queue.put_nowait(time.perf_counter())
        except httpx.HTTPError:
            self.failed += 1
        finally:
            ready.set()

    async def open_tabs(self, n: int) -> None:
        for i in range(n):
            ready = asyncio.Event()
            self.tasks.append(asyncio.create_task(self._tab(self.clients[i % len(self.clients)], ready)))
            await ready.wait()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for client in self.clients:
            await client.aclose()


async def talk(web: str) -> list[float]:
    """TALKERS customers, each a new conversation sending TALKER_TURNS messages; latencies in ms."""
    latencies: list[float] = []

    async def customer(n: int) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.2.{n + 1}")
        async with httpx.AsyncClient(base_url=web, timeout=60, transport=transport) as client:
            await client.get("/")
            for turn in range(TALKER_TURNS):
                t0 = time.perf_counter()
                response = await client.post("/chat/send", json={"message": QUESTIONS[(n + turn) % len(QUESTIONS)]})
                if response.status_code == 200:
                    latencies.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(customer(n) for n in range(TALKERS)))
    return latencies


async def notice_delays(servers: Servers, tabs: Tabs, key: str, samples: int = 20) -> list[float]:
    """Staff replies written into open tabs' conversations: ms from the reply's call to the tab."""
    rasa = RasaApi(servers.rasa_url, servers.token)
    delays = []
    for cookie, queue in list(tabs.received.items())[:samples]:
        conversation = verify(cookie, key)
        if conversation is None:
            continue
        while not queue.empty():
            queue.get_nowait()
        t0 = time.perf_counter()
        await rasa.reply(conversation, "Kia ora, this is support: a benchmark message.", "Bench")
        arrived = await asyncio.wait_for(queue.get(), 30)
        delays.append((arrived - t0) * 1000)
    await rasa.aclose()
    return delays


async def tabs_benchmark(servers: Servers, levels: tuple[int, ...]) -> list[str]:
    rows = []
    await talk(servers.web_url)  # warm-up, not measured: the first replies after a start are slower
    baseline = statistics.median(await talk(servers.web_url))
    rows.append(f"| 0 | {baseline:.0f} | 1.00 | — | — | — |")
    key = chat_secret(servers.settings)
    for n in levels:
        tabs = Tabs(servers.web_url)
        try:
            await tabs.open_tabs(n)
            await asyncio.sleep(2)
            latencies = await talk(servers.web_url)
            median = statistics.median(latencies)
            delays = await notice_delays(servers, tabs, key)
            still_open = sum(not t.done() for t in tabs.tasks)
            rows.append(
                f"| {n} | {median:.0f} | {median / baseline:.2f} | {pct(delays, 0.5):.0f} / {pct(delays, 0.95):.0f} "
                f"| {still_open} of {n} | {tabs.failed} |"
            )
            print(rows[-1], flush=True)
        finally:
            await tabs.close()
    head = (
        "| open tabs | customers' p50 ms (/chat/send) | ÷ no tabs | staff reply to tab, p50 / p95 ms "
        "| tabs still open at the end | tabs refused or failed |\n|---|---|---|---|---|---|"
    )
    return [head, *rows]


async def long_benchmark(rest: str, turns: int = 200) -> str:
    """One conversation of `turns` messages, one at a time, while others talk; against the same
    number of messages sent the same way as short conversations (a new one every 8 messages),
    so that what is compared is the length of the conversation, not the extra load."""

    async def others(stop: asyncio.Event, out: list[float], tag: str) -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            n = 0
            while not stop.is_set():
                sender = f"other-{tag}-{n}"
                n += 1
                for question in QUESTIONS:
                    t0 = time.perf_counter()
                    (await client.post(rest, json={"sender": sender, "message": question})).raise_for_status()
                    out.append((time.perf_counter() - t0) * 1000)
                    await asyncio.sleep(0.05)

    async def one_customer(long: bool) -> tuple[list[float], list[float]]:
        """(this customer's latencies, the others' latencies meanwhile)."""
        around: list[float] = []
        stop = asyncio.Event()
        task = asyncio.create_task(others(stop, around, "long" if long else "short"))
        times = []
        async with httpx.AsyncClient(timeout=60) as client:
            for turn in range(turns):
                sender = "bench-long" if long else f"bench-short-{turn // len(QUESTIONS)}"
                t0 = time.perf_counter()
                message = QUESTIONS[turn % len(QUESTIONS)]
                (await client.post(rest, json={"sender": sender, "message": message})).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
                # One message every PACE seconds in both runs, so that both load the server
                # alike: sent back to back, the faster run would send more and load it more.
                await asyncio.sleep(max(0.0, PACE - (time.perf_counter() - t0)))
        stop.set()
        await task
        return times, around

    # Short, long, short: the machine drifts over minutes, so the long run is compared with
    # short runs on both sides of it.
    _, before = await one_customer(long=False)
    times, beside_long = await one_customer(long=True)
    _, after = await one_customer(long=False)
    beside_short = before + after
    first, last = statistics.median(times[:10]), statistics.median(times[-10:])
    short, long = statistics.median(beside_short), statistics.median(beside_long)
    return (
        "| | median ms |\n|---|---|\n"
        f"| the long conversation, turns 1-10 | {first:.0f} |\n"
        f"| the long conversation, turns {turns - 9}-{turns} | {last:.0f} |\n"
        f"| other customers, beside {turns} messages in short conversations (before and after) | {short:.0f} |\n"
        f"| other customers, beside the {turns}-turn conversation | {long:.0f} |\n\n"
        f"Turns {turns - 9}-{turns} ÷ turns 1-10: **{last / first:.2f}** (target ≤ 1.5). "
        f"Other customers beside the long conversation ÷ beside short ones: **{long / short:.2f}** (target ≤ 1.2)."
    )


async def limiter_benchmark(redis_url: str | None) -> str:
    """One call's cost with no key before it, and after 100,000 keys have gone idle."""

    async def per_call(limiter: LocalLimiter | RedisLimiter, calls: int = 2000) -> float:
        t0 = time.perf_counter()
        for i in range(calls):
            await limiter.allow(f"fresh-{i}")
        return (time.perf_counter() - t0) / calls * 1e6

    now = [0.0]
    local = LocalLimiter(limit=120, window=60, clock=lambda: now[0])
    empty = await per_call(local)
    for i in range(100_000):
        await local.allow(f"idle-{i}")
    now[0] = 61.0
    worst, calls = 0.0, 0
    while next(iter(local.hits)).startswith(("idle-", "fresh-")):  # until every idle key is forgotten
        t0 = time.perf_counter()
        await local.allow(f"after-{calls}")
        worst, calls = max(worst, time.perf_counter() - t0), calls + 1
    after = await per_call(local)
    rows = [
        f"| in memory | {empty:.1f} | {after:.1f} | {after / empty:.2f} | {len(local.hits)} (the idle ones were "
        f"forgotten over the next {calls} calls, the slowest of them {worst * 1e6:.0f} µs) |"
    ]
    if redis_url:
        client = redis_client(redis_url)
        prefix = f"bench:{time.time_ns()}"
        clock = [time.time()]
        limiter = RedisLimiter(client, prefix, limit=120, window=2, clock=lambda: clock[0])
        empty = await per_call(limiter, 500)
        for i in range(0, 100_000, 1000):
            await asyncio.gather(*(limiter.allow(f"idle-{j}") for j in range(i, i + 1000)))
        await asyncio.sleep(3)  # the window passes: Redis expires the idle keys on its own
        clock[0] = time.time()
        after = await per_call(limiter, 500)
        left = len([k async for k in client.scan_iter(f"{prefix}:idle-*", count=10_000)])
        rows.append(f"| Redis | {empty:.1f} | {after:.1f} | {after / empty:.2f} | {left} idle left |")
        await client.aclose()
    return (
        "| limiter | µs a call, no keys before | µs a call, after 100,000 idle keys | ratio | keys kept |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--tabs", default="400,2000", help="open-tab levels, e.g. 400,2000")
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis for the limiter; '' to skip")
    parser.add_argument("--parts", default="tabs,long,limiter", help="which of tabs, long, limiter to run")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = set(args.parts.split(","))
    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp, ours_servers(Path(tmp), web=True) as servers:
        if "tabs" in parts:
            rows = asyncio.run(tabs_benchmark(servers, tuple(int(x) for x in args.tabs.split(","))))
            results["webchat-tabs"] = (
                f"Measured {stamp} with `make bench`: {TALKERS} customers sending {TALKER_TURNS} messages each "
                "through /chat/send while the tabs are open.\n\n" + "\n".join(rows)
            )
        if "long" in parts:
            long = asyncio.run(long_benchmark(f"{servers.rasa_url}/webhooks/rest/webhook", args.turns))
            results["long-200"] = f"Measured {stamp} with `make bench`.\n\n{long}"
    if "limiter" in parts:
        try:
            limits = asyncio.run(limiter_benchmark(args.redis or None))
        except OSError as exc:
            limits = f"Not measured: Redis unreachable ({exc.__class__.__name__})."
        results["limiter-keys"] = f"Measured {stamp} with `make bench`.\n\n{limits}"
    print(*results.values(), sep="\n\n")
    if not args.no_write:
        for marker, body in results.items():
            write_between(args.out, marker, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
