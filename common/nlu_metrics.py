"""Scores for intent predictions, in plain Python so both virtual environments can use them.

`make eval` reports macro-F1 on a 602-message benchmark in which some intents have two to
twelve messages. One message more or less right moves such a class's F1, and the macro
average with it, by several points; a bootstrap interval shows how far the figure can be
trusted.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Unweighted mean of per-intent F1 over the intents present in `gold`.

    Predictions of intents absent from `gold` count against precision of nothing and
    against recall of the gold intent, as scikit-learn's `f1_score(labels=set(gold))` does.
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    if not gold:
        raise ValueError("no examples to score")
    true_pos: Counter[str] = Counter()
    gold_count = Counter(gold)
    predicted_count = Counter(predicted)
    for g, p in zip(gold, predicted, strict=True):
        if g == p:
            true_pos[g] += 1
    scores = []
    for label in gold_count:
        tp = true_pos[label]
        denominator = gold_count[label] + predicted_count[label]
        scores.append(2 * tp / denominator if denominator else 0.0)
    return sum(scores) / len(scores)


def bootstrap_interval(
    gold: Sequence[str], predicted: Sequence[str], rounds: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval for macro-F1, resampling messages with replacement.

    Seeded, so that the figure written to the docs is reproduced exactly.
    """
    return _bootstrap(
        gold, lambda picks: macro_f1([gold[i] for i in picks], [predicted[i] for i in picks]), rounds, level, seed
    )


def difference_interval(
    gold: Sequence[str],
    predicted: Sequence[str],
    baseline: Sequence[str],
    rounds: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Paired bootstrap interval for macro-F1(predicted) - macro-F1(baseline) on the same messages.

    Both pipelines are scored on each resample, so the interval reflects how they differ on
    the same messages, not the spread of each alone. An interval that spans 0 means the
    benchmark cannot tell the two apart.
    """
    if len(baseline) != len(gold):
        raise ValueError("gold and baseline differ in length")

    def statistic(picks: list[int]) -> float:
        sample = [gold[i] for i in picks]
        return macro_f1(sample, [predicted[i] for i in picks]) - macro_f1(sample, [baseline[i] for i in picks])

    return _bootstrap(gold, statistic, rounds, level, seed)


def _bootstrap(
    gold: Sequence[str], statistic: Callable[[list[int]], float], rounds: int, level: float, seed: int
) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    if not gold:
        raise ValueError("no examples to score")
    rng = random.Random(seed)
    n = len(gold)
    samples = sorted(statistic([rng.randrange(n) for _ in range(n)]) for _ in range(rounds))
    tail = (1 - level) / 2
    return samples[int(tail * rounds)], samples[min(rounds - 1, int((1 - tail) * rounds))]


def accuracy_by_group(
    groups: Sequence[str], gold: Sequence[str], predicted: Sequence[str]
) -> dict[str, tuple[int, float]]:
    """For each group (e.g. the benchmark's source column): its size and the share predicted right."""
    if not len(groups) == len(gold) == len(predicted):
        raise ValueError("groups, gold and predicted differ in length")
    hits: defaultdict[str, list[bool]] = defaultdict(list)
    for group, g, p in zip(groups, gold, predicted, strict=True):
        hits[group].append(g == p)
    return {group: (len(h), sum(h) / len(h)) for group, h in sorted(hits.items())}


def stratified_folds(labels: Sequence[str], k: int, seed: int = 0) -> list[list[int]]:
    """`k` disjoint folds of the indices of `labels`, each label's examples dealt round-robin
    after a seeded shuffle, so every fold holds about 1/k of every intent (an intent with fewer
    than k examples is in fewer folds). Written here rather than taken from scikit-learn so that
    both environments, and the tests, split the same way."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if len(labels) < k:
        raise ValueError("fewer examples than folds")
    rng = random.Random(seed)
    by_label: defaultdict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for label in sorted(by_label):
        indices = by_label[label]
        rng.shuffle(indices)
        for position, index in enumerate(indices):
            folds[(offset + position) % k].append(index)
        offset += len(indices)  # the next intent starts where this one stopped: even fold sizes
    return [sorted(fold) for fold in folds]


def precision_recall(gold: Sequence[str], predicted: Sequence[str], label: str) -> tuple[float, float, int, int]:
    """(precision, recall, predicted as `label`, gold `label`) for one label. Precision is 0
    when nothing was predicted as `label`, recall 0 when no gold example has it."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    hits = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
    said, truly = sum(1 for p in predicted if p == label), sum(1 for g in gold if g == label)
    return (hits / said if said else 0.0), (hits / truly if truly else 0.0), said, truly
