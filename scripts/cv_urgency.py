"""Choose the urgency classifier's settings by cross-validation over data/ (`make eval-cv`).

Runs in the Rasa virtual environment. Every example in data/nlu is labelled by its
`metadata: {urgency: ...}` (rasa_plugins.components.urgency_label), embedded once with the
pipeline's encoder, and scored by K-fold cross-validation for each regularisation strength and
pair of thresholds, with the component's own decision (`decide_urgency`). Precision and recall
are reported apart for time-critical and safety: a false "safety" costs another customer
their place in the queue. The unseen phrasings (tests/nlu/urgency_holdout.yml) are measured
on the live assistant by scripts/eval_urgency.py, not here.

    .venv-rasa/bin/python scripts/cv_urgency.py --out docs/nlu-evaluation.md
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("LOG_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common.nlu_metrics import precision_recall, stratified_folds  # noqa: E402

GRID_C = (3.0, 10.0, 30.0, 100.0)
GRID_THRESHOLDS = ((0.6, 0.5), (0.6, 0.7), (0.7, 0.6), (0.7, 0.7), (0.8, 0.7))
LABELS = ("time_critical", "safety")


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "urgency-cv.md")
    args = parser.parse_args()

    import numpy as np
    from rasa.shared.nlu.training_data.loading import load_data
    from sklearn.linear_model import LogisticRegression

    from rasa_plugins.components import URGENCY_LABELS, decide_urgency, urgency_label
    from rasa_plugins.encoders import load

    examples = [e for e in load_data(str(ROOT / "data" / "nlu")).intent_examples if e.get("text")]
    gold = [urgency_label(e) for e in examples]
    features = load().embed_many([e.get("text") for e in examples])
    folds = stratified_folds(gold, args.folds)
    counts = {label: gold.count(label) for label in URGENCY_LABELS}
    lines = [
        f"{len(gold)} examples in data/nlu ({counts['time_critical']} time-critical, {counts['safety']} safety), "
        f"{args.folds}-fold cross-validation, MiniLM sentence embeddings, LogisticRegression with balanced class "
        "weights. Reproduce: `.venv-rasa/bin/python scripts/cv_urgency.py`.",
        "",
        "| C | safety threshold | time-critical threshold | time-critical P / R / F1 | safety P / R / F1 |",
        "|---:|---:|---:|---|---|",
    ]
    for c in GRID_C:
        probabilities = np.zeros((len(gold), len(URGENCY_LABELS)))
        for fold in folds:
            held = set(fold)
            train = [i for i in range(len(gold)) if i not in held]
            clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
            clf.fit(features[train], [gold[i] for i in train])
            columns = [list(clf.classes_).index(label) for label in URGENCY_LABELS]
            probabilities[fold] = clf.predict_proba(features[fold])[:, columns]
        for safety_threshold, tc_threshold in GRID_THRESHOLDS:
            thresholds = (safety_threshold, tc_threshold)
            predicted = [
                decide_urgency(dict(zip(URGENCY_LABELS, map(float, row), strict=True)), *thresholds)[0]
                for row in probabilities
            ]
            cells = []
            for label in LABELS:
                precision, recall, _, _ = precision_recall(gold, predicted, label)
                cells.append(f"{precision:.2f} / {recall:.2f} / {f1(precision, recall):.2f}")
            lines.append(f"| {c:g} | {safety_threshold} | {tc_threshold} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    sys.path.insert(0, str(ROOT / "scripts"))
    from eval_nlu import write_table

    write_table(args.out, table, "urgency-cv-table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
