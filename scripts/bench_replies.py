"""Reply latency and memory of the whole assistant (`make bench`).

Starts an isolated assistant (own SQLite files, own ports, loopback only), sends a fixed,
bounded number of messages from the held-out set through the REST channel, first one
conversation at a time and then from several concurrent conversations, and records
latency percentiles, throughput and the resident memory of both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from bot.run import prepare_store
from bot.servers import Servers, isolated_env
from bot.settings import PROJECT_ROOT, load_settings


def messages() -> list[str]:
    data = yaml.safe_load((PROJECT_ROOT / "tests" / "nlu" / "holdout.yml").read_text(encoding="utf-8"))
    return [line[2:].strip() for block in data["nlu"] for line in block["examples"].splitlines() if line.strip()]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def run_load(url: str, texts: list[str], conversations: int, label: str) -> tuple[list[float], float]:
    latencies: list[float] = []

    async def converse(n: int, client: httpx.AsyncClient) -> None:
        for i, text in enumerate(texts[n::conversations]):
            t0 = time.perf_counter()
            response = await client.post(url, json={"sender": f"bench-{label}-{conversations}-{n}", "message": text})
            response.raise_for_status()
            latencies.append((time.perf_counter() - t0) * 1000)
            if i >= 200:  # bounded: never more than 200 messages per conversation
                break

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(converse(n, client) for n in range(conversations)))
    return latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    texts = messages()
    with tempfile.TemporaryDirectory() as var:
        env = isolated_env(Path(var))
        settings = load_settings(env)
        prepare_store(settings)
        servers = Servers(settings=settings, env=env, token=settings.rasa_auth_token, logs=Path(var))
        t0 = time.perf_counter()
        servers.start_actions()
        servers.start_rasa()
        startup = time.perf_counter() - t0
        url = f"{servers.rasa_url}/webhooks/rest/webhook"
        try:
            rows = []
            # The incident-state cache off (every reply reads the store) and at its default.
            for ttl in ("0", "5"):
                servers.env["STATE_TTL_SECONDS"] = ttl
                servers.stop("actions")
                servers.start_actions()
                asyncio.run(run_load(url, texts[:10], 1, f"warm-{ttl}"))  # warm-up, not measured
                for conversations in (1, args.concurrency):
                    # Fresh conversations per run: Rasa reloads a conversation's whole history on
                    # every message, so reusing one would make later runs look slower.
                    latencies, elapsed = asyncio.run(run_load(url, texts, conversations, f"ttl{ttl}"))
                    rows.append(
                        f"| {ttl} | {conversations} | {len(latencies)} | {statistics.median(latencies):.0f} | "
                        f"{pct(latencies, 0.95):.0f} | {max(latencies):.0f} | {len(latencies) / elapsed:.1f} |"
                    )
            memory = {name: rss_mib(proc.pid) for name, proc in servers.procs.items()}
        finally:
            servers.stop_all()
    table = "\n".join(
        [
            f"Start-up (action server + Rasa with model loaded): {startup:.1f} s. "
            f"Resident memory after the run: Rasa {memory['rasa']:.0f} MiB, action server {memory['actions']:.0f} MiB.",
            "",
            "| state TTL s | concurrent conversations | messages | p50 ms | p95 ms | max ms | replies/s |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    marker, end = "<!-- bench-table -->", "<!-- /bench-table -->"
    text = args.out.read_text(encoding="utf-8") if args.out.is_file() else f"{marker}\n{end}\n"
    head, _, rest = text.partition(marker)
    _, _, tail = rest.partition(end)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"{head}{marker}\n{table}\n{end}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
