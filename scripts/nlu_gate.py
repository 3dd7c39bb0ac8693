"""Fail when intent macro-F1 in a `rasa test nlu` report is below the bar.

python scripts/nlu_gate.py results/nlu/intent_report.json --min-macro-f1 0.90
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--min-macro-f1", type=float, default=0.90)
    args = parser.parse_args(argv)
    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
        macro = float(report["macro avg"]["f1-score"])
        accuracy = float(report["accuracy"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"NLU gate: cannot read {args.report}: {exc}", file=sys.stderr)
        return 2
    worst = sorted(
        (
            (name, row["f1-score"])
            for name, row in report.items()
            if isinstance(row, dict) and "support" in row and name not in ("macro avg", "weighted avg", "micro avg")
        ),
        key=lambda item: item[1],
    )[:3]
    print(f"NLU gate: held-out intent macro-F1 {macro:.3f}, accuracy {accuracy:.3f} (bar {args.min_macro_f1:.2f})")
    print("  weakest: " + ", ".join(f"{name} {f1:.2f}" for name, f1 in worst))
    if macro < args.min_macro_f1:
        print("NLU gate: FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
