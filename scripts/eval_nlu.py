"""Compare NLU pipelines on the held-out set and the real-message benchmark (`make eval`).

Runs in the Rasa virtual environment. For each candidate config it trains an NLU-only
model on data/, parses every message, and reports macro-F1, accuracy, the fallback rate,
training time and parse latency. Figures are written to a Markdown file and JSON.
With `--cv K` it instead scores each pipeline by K-fold cross-validation over data/ (`make
eval-cv`): settings are chosen on that, and the benchmark only reports.
The benchmark file is only read here; nothing from it reaches data/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score

# Rasa's debug log would echo every benchmark message; keep the output to the figures.
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Rasa's training cache would replay earlier runs and make training times meaningless.
os.environ["RASA_MAX_CACHE_SIZE"] = "0"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the pipeline's own component lives in rasa_plugins.components
os.chdir(ROOT)
from common.nlu_metrics import (  # noqa: E402
    accuracy_by_group,
    bootstrap_interval,
    difference_interval,
    macro_f1,
    stratified_folds,
)

BENCHMARK = ROOT.parent / "shared" / "benchmarks" / "customer_messages.tsv"
CHOSEN = "MiniLM, a second look with MPNet under 0.6 (ONNX Runtime), LogisticRegression C=10 (config.yml, chosen)"
CANDIDATES: dict[str, tuple[Path, dict[str, object]]] = {
    CHOSEN: (ROOT / "config.yml", {}),
    "MiniLM alone, LogisticRegression C=10 (config.yml, second look off)": (
        ROOT / "config.yml",
        {"second_encoder": None},
    ),
    "count vectors + MiniLM x20, C=1 (configs/counts-minilm.yml, chosen before)": (
        ROOT / "configs" / "counts-minilm.yml",
        {},
    ),
    "light: count vectors + LogisticRegression (configs/light.yml)": (ROOT / "configs" / "light.yml", {}),
    "DIET, 100 epochs (configs/diet.yml)": (ROOT / "configs" / "diet.yml", {}),
    # The classifier's regularisation, swept around the chosen value.
    **{f"MiniLM, C={c:g} (config.yml with C={c:g})": (ROOT / "config.yml", {"C": c}) for c in (1, 100)},
}


def with_c(config: Path, overrides: dict[str, object], folder: str) -> Path:
    """The config, or a copy of it with the intent classifier's settings overridden."""
    if not overrides:
        return config
    import yaml

    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for component in data["pipeline"]:
        if component["name"].endswith("RobustLogisticRegressionClassifier"):
            component.update(overrides)
    path = Path(folder) / f"variant-{len(list(Path(folder).iterdir()))}.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def picked(name: str, only: str) -> bool:
    """Whether `--only` picks this pipeline: any of its comma-separated parts is in the name."""
    return any(part.strip() in name for part in only.split(","))


def read_holdout() -> list[tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(ROOT / "tests" / "nlu" / "holdout.yml"))
    return [(m.get("intent"), m.get("text")) for m in data.intent_examples]


def read_benchmark(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """The benchmark's (intent, text) rows, and each row's source (tweets, complaint titles, ...)."""
    rows, sources = [], []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[2].strip():
            rows.append((parts[1], parts[2]))
            sources.append(parts[0])
    return rows, sources


def scores(gold: list[str], predicted: list[str]) -> dict[str, float]:
    return {
        "macro_f1": macro_f1(gold, predicted),
        "accuracy": accuracy_score(gold, predicted),
    }


async def evaluate(
    config: Path, sets: dict[str, list[tuple[str, str]]], sources: dict[str, list[str]]
) -> dict[str, object]:
    import logging

    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        model = train_nlu(
            str(config), str(ROOT / "data"), out, fixed_model_name="eval", domain=str(ROOT / "bot" / "domain.yml")
        )
        train_seconds = time.perf_counter() - started
        agent = Agent.load(model)
        result: dict[str, object] = {"train_seconds": round(train_seconds, 1)}
        latencies: list[float] = []
        for name, rows in sets.items():
            raw, final, looked = [], [], 0
            for _, text in rows:
                t0 = time.perf_counter()
                parsed = await agent.parse_message(text)
                latencies.append((time.perf_counter() - t0) * 1000)
                ranking = [r["name"] for r in parsed.get("intent_ranking", []) if r["name"] != "nlu_fallback"]
                raw.append(ranking[0] if ranking else "none")
                final.append(parsed["intent"]["name"])
                looked += parsed.get("second_look") is True
            gold = [g for g, _ in rows]
            result[name] = {
                "n": len(rows),
                **{k: round(v, 3) for k, v in scores(gold, raw).items()},
                "macro_f1_95ci": [round(x, 3) for x in bootstrap_interval(gold, raw)],
                # Intent names only, kept for the paired comparison between pipelines.
                "predicted": raw,
                "accuracy_by_source": {
                    source: [n, round(acc, 3)]
                    for source, (n, acc) in accuracy_by_group(sources[name], gold, raw).items()
                }
                if name in sources
                else {},
                "with_fallback": {k: round(v, 3) for k, v in scores(gold, final).items()},
                "fallback_rate": round(sum(p == "nlu_fallback" for p in final) / len(final), 3),
                "second_look_rate": round(looked / len(rows), 3),
                # Counts only (gold -> predicted), so the docs can say where errors go without quoting messages.
                "top_confusions": [
                    [g, p, n]
                    for (g, p), n in Counter((g, p) for g, p in zip(gold, raw, strict=True) if g != p).most_common(15)
                ],
                "per_intent_f1": dict(
                    zip(
                        sorted(set(gold)),
                        (
                            round(x, 3)
                            for x in f1_score(gold, raw, labels=sorted(set(gold)), average=None, zero_division=0)
                        ),
                        strict=True,
                    )
                ),
            }
        latencies.sort()
        result["parse_ms_p50"] = round(statistics.median(latencies), 1)
        result["parse_ms_p95"] = round(latencies[int(len(latencies) * 0.95) - 1], 1)
        return result


async def cross_validate(config: Path, k: int, seed: int = 0) -> dict[str, object]:
    """K-fold cross-validation over data/: train on k-1 folds of our own examples, predict the
    fold left out, and score every example once. Settings are chosen on this, never on the
    real-message benchmark, which only reports (issue 22). Synonyms, lookup tables and regexes
    stay in every fold's training data; only the intent examples are split."""
    import logging

    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)
    data = load_data(str(ROOT / "data" / "nlu"))
    examples = list(data.intent_examples)
    labels = [str(e.get("intent")) for e in examples]
    folds = stratified_folds(labels, k, seed)
    predicted = [""] * len(examples)
    per_fold = []
    for number, fold in enumerate(folds, 1):
        held = {id(examples[i]) for i in fold}
        train = data.filter_training_examples(lambda e, held=held: id(e) not in held)  # type: ignore[misc]
        with tempfile.TemporaryDirectory() as out:
            nlu = Path(out) / "nlu.yml"
            nlu.write_text(train.nlu_as_yaml(), encoding="utf-8")
            model = train_nlu(
                str(config), str(nlu), out, fixed_model_name=f"fold{number}", domain=str(ROOT / "bot" / "domain.yml")
            )
            agent = Agent.load(model)
            for i in fold:
                parsed = await agent.parse_message(str(examples[i].get("text")))
                ranking = [r["name"] for r in parsed.get("intent_ranking", []) if r["name"] != "nlu_fallback"]
                predicted[i] = ranking[0] if ranking else "none"
        per_fold.append(macro_f1([labels[i] for i in fold], [predicted[i] for i in fold]))
        print(f"  fold {number}/{k}: macro-F1 {per_fold[-1]:.3f}", flush=True)
    return {
        "folds": k,
        "n": len(examples),
        "macro_f1": round(macro_f1(labels, predicted), 3),
        "accuracy": round(accuracy_score(labels, predicted), 3),
        "fold_mean": round(statistics.mean(per_fold), 3),
        "fold_sd": round(statistics.stdev(per_fold), 3),
        "predicted": predicted,
        "gold": labels,
    }


def cv_markdown(results: dict[str, dict[str, object]]) -> str:
    lines = [
        "| pipeline | folds | examples | macro-F1, every example scored once | minus chosen (95% interval) "
        "| per-fold mean ± sd | accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    chosen = CHOSEN if CHOSEN in results else next(iter(results))
    base = results[chosen]
    for pipeline, r in results.items():
        versus = "—"
        if pipeline != chosen and r.get("gold") == base.get("gold"):
            gold = list(r["gold"])  # type: ignore[call-overload]
            low, high = difference_interval(gold, list(r["predicted"]), list(base["predicted"]))  # type: ignore[call-overload]
            versus = f"{float(r['macro_f1']) - float(base['macro_f1']):+.3f} ({low:+.3f} to {high:+.3f})"  # type: ignore[arg-type]
        lines.append(
            f"| {pipeline} | {r['folds']} | {r['n']} | {r['macro_f1']:.3f} | {versus} | "
            f"{r['fold_mean']:.3f} ± {r['fold_sd']:.3f} | {r['accuracy']:.3f} |"
        )
    return "\n".join(lines)


def markdown(results: dict[str, dict[str, object]], sets: dict[str, list[tuple[str, str]]]) -> str:
    lines = [
        "| pipeline | set | n | macro-F1 | 95% interval | minus chosen (95% interval) | accuracy "
        "| macro-F1 after fallback | fallback rate | second look | train s | parse ms p50 / p95 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    chosen = CHOSEN if CHOSEN in results else next(iter(results))
    for pipeline, res in results.items():
        for name in sets:
            r = res[name]
            assert isinstance(r, dict)
            versus = "—" if pipeline == chosen else against(r, results[chosen][name], sets[name])  # type: ignore[arg-type]
            lines.append(
                f"| {pipeline} | {name} | {r['n']} | {r['macro_f1']:.3f} | {interval(r)} | {versus} | "
                f"{r['accuracy']:.3f} | "
                f"{r['with_fallback']['macro_f1']:.3f} | {r['fallback_rate']:.1%} | "
                f"{float(r.get('second_look_rate', 0.0)):.0%} | {res['train_seconds']} | "
                f"{res['parse_ms_p50']} / {res['parse_ms_p95']} |"
            )
    names = list(sets)
    lines += [
        "",
        f"Per-intent F1 of the chosen pipeline ({chosen.split(' (')[0]}):",
        "",
        "| intent | " + " | ".join(f"{n} (n per intent)" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    per = {n: results[chosen][n] for n in names}
    support = {n: dict(Counter(g for g, _ in sets[n])) for n in names}
    for intent in sorted({i for n in names for i in per[n]["per_intent_f1"]}):  # type: ignore[index]
        cells = []
        for n in names:
            f1 = per[n]["per_intent_f1"].get(intent)  # type: ignore[index]
            cells.append("—" if f1 is None else f"{f1:.2f} ({support[n].get(intent, 0)})")
        lines.append(f"| {intent} | " + " | ".join(cells) + " |")
    by_source = per.get("real customer messages", {}).get("accuracy_by_source")  # type: ignore[attr-defined]
    if by_source:
        lines += [
            "",
            "Accuracy of the chosen pipeline on the real messages, by where they come from:",
            "",
            "| source | n | accuracy |",
            "|---|---|---|",
        ]
        lines += [f"| {source} | {n} | {acc:.3f} |" for source, (n, acc) in by_source.items()]
    if "real customer messages" in per:
        confusions = per["real customer messages"]["top_confusions"]  # type: ignore[index]
        lines += ["", "Most frequent errors on the real messages (gold → predicted: count):", ""]
        lines += [f"- {g} → {p}: {c}" for g, p, c in confusions[:10]]
    return "\n".join(lines)


def interval(result: dict[str, object]) -> str:
    """The bootstrap interval of macro-F1, or a dash for results saved before it was measured."""
    bounds = result.get("macro_f1_95ci")
    return f"{bounds[0]:.3f}–{bounds[1]:.3f}" if isinstance(bounds, list) else "—"


def against(result: dict[str, object], chosen: dict[str, object], rows: list[tuple[str, str]]) -> str:
    """Macro-F1 minus the chosen pipeline's on the same messages, with a paired bootstrap interval."""
    mine, theirs = result.get("predicted"), chosen.get("predicted")
    if not isinstance(mine, list) or not isinstance(theirs, list):
        return "—"
    gold = [g for g, _ in rows]
    low, high = difference_interval(gold, mine, theirs)
    delta = float(result["macro_f1"]) - float(chosen["macro_f1"])  # type: ignore[arg-type]
    return f"{delta:+.3f} ({low:+.3f} to {high:+.3f})"


def write_table(out: Path, table: str, name: str = "eval-table") -> None:
    """Put `table` between `<!-- name -->` markers in `out`, keeping the prose around them."""
    out.parent.mkdir(parents=True, exist_ok=True)
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = out.read_text(encoding="utf-8") if out.is_file() else ""
    if start in text:
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        out.write_text(f"{head}{start}\n{table}\n{end}{tail}", encoding="utf-8")
    else:
        out.write_text(f"{text}{start}\n{table}\n{end}\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "nlu-evaluation.md")
    parser.add_argument("--benchmark", type=Path, default=BENCHMARK)
    parser.add_argument(
        "--only",
        default="",
        help="evaluate only pipelines whose name contains this (or any of several, comma-separated)",
    )
    parser.add_argument("--from-json", action="store_true", help="re-render the last results without retraining")
    parser.add_argument(
        "--baseline",
        type=Path,
        action="append",
        default=[],
        help="add the results saved by an earlier run (results/nlu-evaluation.json of another checkout) "
        "to the table, each pipeline's name suffixed with the file's parent folder",
    )
    parser.add_argument(
        "--cv",
        type=int,
        default=0,
        help="instead: k-fold cross-validation over data/ (e.g. --cv 5), written between cv-table markers",
    )
    args = parser.parse_args()
    if args.cv:
        with tempfile.TemporaryDirectory() as folder:
            cv = {}
            for name, (cfg, c) in CANDIDATES.items():
                if picked(name, args.only):
                    print(f"{name}: {args.cv}-fold cross-validation", flush=True)
                    cv[name] = asyncio.run(cross_validate(with_c(cfg, c, folder), args.cv))
        (ROOT / "results").mkdir(exist_ok=True)
        (ROOT / "results" / "nlu-cv.json").write_text(json.dumps(cv, indent=2), encoding="utf-8")
        table = cv_markdown(cv)
        print(table)
        write_table(args.out, table, "cv-table")
        return
    sets = {"held-out (ours)": read_holdout()}
    sources: dict[str, list[str]] = {}
    if args.benchmark.is_file():
        sets["real customer messages"], sources["real customer messages"] = read_benchmark(args.benchmark)
    else:
        print(f"benchmark not found at {args.benchmark}; evaluating the held-out set only")
    saved = ROOT / "results" / "nlu-evaluation.json"
    if args.from_json:
        results = json.loads(saved.read_text(encoding="utf-8"))
    else:
        with tempfile.TemporaryDirectory() as folder:
            results = {
                name: asyncio.run(evaluate(with_c(cfg, c, folder), sets, sources))
                for name, (cfg, c) in CANDIDATES.items()
                if picked(name, args.only)
            }
        saved.parent.mkdir(exist_ok=True)
        saved.write_text(json.dumps(results, indent=2), encoding="utf-8")
    for earlier in args.baseline:
        # Predictions on the same messages, so the paired difference holds across checkouts.
        for name, res in json.loads(earlier.read_text(encoding="utf-8")).items():
            results[f"{name} [{earlier.parent.name}]"] = res
    table = markdown(results, sets)
    print(table)
    write_table(args.out, table)


if __name__ == "__main__":
    main()
