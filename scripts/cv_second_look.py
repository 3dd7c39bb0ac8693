"""Choose when the intent classifier takes a second look with MPNet, by cross-validation
over data/ (`make eval-cv`).

Runs in the Rasa virtual environment. Every intent example in data/nlu is embedded once with
each encoder; for each fold (`common.nlu_metrics.stratified_folds`, seed 0) a LogisticRegression
on MiniLM and one on MiniLM and MPNet together are trained as the pipeline trains them, and a
held-out example goes to the second whenever the first's top probability is under the
threshold. Reported: macro-F1 with every example scored once, and the share of examples that
took the second look, which is what the threshold costs (MPNet is about seven times MiniLM).

    .venv-rasa/bin/python scripts/cv_second_look.py --out docs/nlu-evaluation.md
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("LOG_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common.nlu_metrics import macro_f1, stratified_folds  # noqa: E402

THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
C = 10.0  # as config.yml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "second-look-cv.md")
    args = parser.parse_args()

    import numpy as np
    from rasa.shared.nlu.training_data.loading import load_data
    from sklearn.linear_model import LogisticRegression

    from rasa_plugins.encoders import load

    examples = [e for e in load_data(str(ROOT / "data" / "nlu")).intent_examples if e.get("text")]
    texts, gold = [e.get("text") for e in examples], np.array([e.get("intent") for e in examples])
    first = load("minilm").embed_many(texts)
    both = np.hstack([first, load("mpnet").embed_many(texts)])
    folds = stratified_folds(list(gold), args.folds)

    def fit(features: object, labels: object) -> LogisticRegression:
        return LogisticRegression(C=C, max_iter=1000, class_weight="balanced").fit(features, labels)

    probabilities: dict[int, tuple[object, object, object, object]] = {}
    for k, fold in enumerate(folds):
        train = np.setdiff1d(np.arange(len(gold)), fold)
        one, two = fit(first[train], gold[train]), fit(both[train], gold[train])
        probabilities[k] = (one.predict_proba(first[fold]), one.classes_, two.predict(both[fold]), fold)
    lines = [
        f"{len(gold)} intent examples in data/nlu, {args.folds}-fold cross-validation, LogisticRegression C={C:g} "
        "with balanced class weights. Reproduce: `.venv-rasa/bin/python scripts/cv_second_look.py`.",
        "",
        "| second look when MiniLM's top probability is under | macro-F1, every example scored once | share of examples with a second look |",  # noqa: E501
        "|---:|---:|---:|",
    ]
    for threshold in THRESHOLDS:
        predicted = np.empty(len(gold), dtype=object)
        looked = 0
        for p_first, classes, p_both, fold in probabilities.values():
            unsure = p_first.max(1) < threshold  # type: ignore[attr-defined]
            predicted[fold] = np.where(unsure, p_both, classes[p_first.argmax(1)])  # type: ignore[index,attr-defined]
            looked += int(unsure.sum())
        label = "never" if threshold == 0 else "always" if threshold > 1 else f"{threshold:g}"
        lines.append(f"| {label} | {macro_f1(list(gold), list(predicted)):.3f} | {looked / len(gold):.0%} |")
    table = "\n".join(lines)
    print(table)
    sys.path.insert(0, str(ROOT / "scripts"))
    from eval_nlu import write_table

    write_table(args.out, table, "second-look-cv-table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
