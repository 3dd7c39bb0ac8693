"""Rasa pipeline components. Imported only by Rasa, in its own virtual environment.

Rasa 3.6's LogisticRegressionClassifier crashes on a message that yields no tokens (an
empty or whitespace-only text): the featurizers then emit fewer columns than the model
was trained on, scikit-learn raises, and the REST channel answers with nothing. And a
message with no known vocabulary at all (emoji only, another script, "xxxx") gets the
classifier's prior, which is `affirm` at 0.45, above the fallback threshold.

This subclass classifies both as "no intent, confidence 0", so the FallbackClassifier
turns them into `nlu_fallback` and the assistant asks what was meant.
"""

from __future__ import annotations

import logging
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.training_data.message import Message

logger = logging.getLogger(__name__)
# Fewer known word and character n-grams than this and the prediction is the prior, not evidence.
MIN_KNOWN_FEATURES = 3


def known_vocabulary(message: Message) -> int:
    """How many of the message's count-vector features were seen in training."""
    return sum(
        f.features.nnz
        for f in message.features
        if f.is_sparse() and f.type == "sentence" and "CountVectorsFeaturizer" in f.origin
    )


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class RobustLogisticRegressionClassifier(LogisticRegressionClassifier):  # type: ignore[misc]
    """LogisticRegressionClassifier that answers "unknown" instead of crashing on empty input."""

    def process(self, messages: list[Message]) -> list[Message]:
        expected = getattr(self.clf, "n_features_in_", None)
        for message in messages:
            try:
                usable = (
                    expected is None or self._create_X([message]).shape[1] == expected
                ) and known_vocabulary(message) >= MIN_KNOWN_FEATURES
            except Exception:  # any featurisation failure means the same: nothing to classify
                usable = False
            if usable:
                super().process([message])
            else:
                logger.debug("no usable features for message; classifying as unknown")
                message.set("intent", {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set("intent_ranking", [], add_to_output=True)
        return messages
