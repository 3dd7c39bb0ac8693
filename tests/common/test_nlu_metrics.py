"""Macro-F1, its bootstrap interval and per-source accuracy, as `make eval` reports them."""

from __future__ import annotations

import pytest

from common.nlu_metrics import accuracy_by_group, bootstrap_interval, difference_interval, macro_f1, precision_recall


def test_macro_f1_is_the_mean_of_per_intent_f1_over_gold_intents() -> None:
    """greet: P=1/2 R=1 -> 2/3; thank: P=1 R=1/2 -> 2/3; a stray prediction of an intent not in gold is ignored."""
    gold = ["greet", "thank", "thank", "greet"]
    predicted = ["greet", "thank", "greet", "deny"]
    # greet: tp 1, gold 2, predicted 2 -> 0.5; thank: tp 1, gold 2, predicted 1 -> 2/3.
    assert macro_f1(gold, predicted) == pytest.approx((0.5 + 2 / 3) / 2)


def test_macro_f1_is_one_when_every_prediction_is_right() -> None:
    assert macro_f1(["a", "b", "b"], ["a", "b", "b"]) == 1.0


def test_a_gold_intent_never_predicted_scores_zero() -> None:
    assert macro_f1(["a", "b"], ["a", "a"]) == pytest.approx((2 / 3 + 0.0) / 2)


@pytest.mark.parametrize(("gold", "predicted"), [([], []), (["a"], []), (["a"], ["a", "b"])])
def test_macro_f1_refuses_empty_or_mismatched_input(gold: list[str], predicted: list[str]) -> None:
    with pytest.raises(ValueError):
        macro_f1(gold, predicted)


def test_bootstrap_interval_brackets_the_point_estimate_and_repeats_with_the_same_seed() -> None:
    gold = ["a"] * 30 + ["b"] * 30 + ["c"] * 5
    predicted = ["a"] * 25 + ["b"] * 5 + ["b"] * 27 + ["a"] * 3 + ["c"] * 2 + ["a"] * 3
    point = macro_f1(gold, predicted)
    low, high = bootstrap_interval(gold, predicted, rounds=300)
    assert low < point < high
    assert high - low > 0.05  # five messages of class c make the estimate shaky
    assert bootstrap_interval(gold, predicted, rounds=300) == (low, high)


def test_bootstrap_interval_is_a_point_when_every_prediction_is_right() -> None:
    assert bootstrap_interval(["a", "b"] * 10, ["a", "b"] * 10, rounds=50) == (1.0, 1.0)


@pytest.mark.parametrize(("rounds", "level"), [(0, 0.95), (10, 0.0), (10, 1.0)])
def test_bootstrap_interval_refuses_nonsense_settings(rounds: int, level: float) -> None:
    with pytest.raises(ValueError):
        bootstrap_interval(["a"], ["a"], rounds=rounds, level=level)


def test_accuracy_by_group_counts_each_source_separately() -> None:
    result = accuracy_by_group(["x", "y", "x", "x"], ["a", "b", "a", "c"], ["a", "a", "a", "a"])
    assert result == {"x": (3, pytest.approx(2 / 3)), "y": (1, 0.0)}


def test_accuracy_by_group_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        accuracy_by_group(["x"], ["a", "b"], ["a", "b"])


def test_difference_interval_excludes_zero_only_when_one_pipeline_is_clearly_better() -> None:
    gold = ["a", "b", "c", "d"] * 25
    perfect = list(gold)
    half_wrong = [g if i % 2 else "x" for i, g in enumerate(gold)]
    one_wrong = ["x", *gold[1:]]
    low, high = difference_interval(gold, perfect, half_wrong, rounds=200)
    assert 0.3 < low <= high
    low, high = difference_interval(gold, perfect, one_wrong, rounds=200)
    # One message apart: a third of the resamples leave that message out, so the interval touches 0.
    assert low == 0.0 < high < 0.05


def test_difference_interval_of_a_pipeline_with_itself_is_zero() -> None:
    gold = ["a", "b"] * 10
    predicted = ["a", "a"] * 10
    assert difference_interval(gold, predicted, predicted, rounds=50) == (0.0, 0.0)


def test_difference_interval_refuses_a_baseline_of_another_length() -> None:
    with pytest.raises(ValueError):
        difference_interval(["a", "b"], ["a", "b"], ["a"])


def test_stratified_folds_cover_every_example_once_and_spread_each_intent() -> None:
    from common.nlu_metrics import stratified_folds

    labels = ["a"] * 10 + ["b"] * 7 + ["c"] * 3
    folds = stratified_folds(labels, 5, seed=1)
    assert sorted(i for fold in folds for i in fold) == list(range(20))
    for fold in folds:
        assert [labels[i] for i in fold].count("a") == 2  # 10 a's over 5 folds
        assert 3 <= len(fold) <= 5
    assert stratified_folds(labels, 5, seed=1) == folds  # the same seed splits the same way
    assert stratified_folds(labels, 5, seed=2) != folds


def test_stratified_folds_refuse_impossible_splits() -> None:
    import pytest

    from common.nlu_metrics import stratified_folds

    with pytest.raises(ValueError):
        stratified_folds(["a", "b"], 1)
    with pytest.raises(ValueError):
        stratified_folds(["a"], 2)


def test_precision_and_recall_are_counted_for_one_label_apart() -> None:
    gold = ["safety", "safety", "normal", "normal", "time_critical"]
    predicted = ["safety", "normal", "safety", "normal", "time_critical"]
    assert precision_recall(gold, predicted, "safety") == (0.5, 0.5, 2, 2)
    assert precision_recall(gold, predicted, "time_critical") == (1.0, 1.0, 1, 1)


def test_precision_and_recall_are_zero_with_nothing_to_count() -> None:
    assert precision_recall(["normal"], ["normal"], "safety") == (0.0, 0.0, 0, 0)
    with pytest.raises(ValueError):
        precision_recall(["normal"], [], "safety")
