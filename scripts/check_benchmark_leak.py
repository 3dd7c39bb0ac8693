"""Fail if any benchmark message (or a long enough piece of one) appears in our own text.

The same test as the project's before-stop hook, applied to every file we train or test on:
data/ (training), tests/nlu/ and tests/stories/ (our held-out and test sets).

    python scripts/check_benchmark_leak.py [path/to/customer_messages.tsv]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared" / "benchmarks" / "customer_messages.tsv"
CHECKED = ("data", "tests/nlu", "tests/stories")


def norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def main() -> int:
    bench = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not bench.is_file():
        print(f"benchmark leak check: no benchmark at {bench}; nothing to compare")
        return 0
    rows = [line.split("\t", 2) for line in bench.read_text(encoding="utf-8").splitlines()[1:]]
    texts = {norm(r[2]) for r in rows if len(r) == 3}
    texts = {t for t in texts if len(t) >= 12}
    leaks = 0
    for folder in CHECKED:
        files = sorted(p for p in (ROOT / folder).rglob("*") if p.is_file())
        # Joined like the before-stop hook does, so a message split across files counts too.
        corpus = norm(" ".join(p.read_text(encoding="utf-8", errors="ignore") for p in files))
        hits = sum(1 for t in texts if t in corpus)
        if hits:
            leaks += hits
            print(f"{folder}/: {hits} benchmark message(s) appear in it", file=sys.stderr)
    if leaks:
        print("benchmark leak check: FAILED (the benchmark is never training or test data)", file=sys.stderr)
        return 1
    print(f"benchmark leak check: none of {len(texts)} benchmark messages appear in {', '.join(CHECKED)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
