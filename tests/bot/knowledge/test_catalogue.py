"""The catalogue of services and intents agrees with the domain, the training data and the knowledge file."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import yaml

from bot.core.settings import PROJECT_ROOT
from bot.knowledge.catalogue import CUSTOMER_INTENTS, INTENT_SERVICE, SERVICE_KEYS, SERVICES, TOPIC_INTENTS
from bot.knowledge.file import load_knowledge


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    return loaded


def test_customer_intents_are_the_domains_without_the_notifiers_trigger(domain: dict[str, Any]) -> None:
    assert list(CUSTOMER_INTENTS) == [i for i in domain["intents"] if not i.startswith("EXTERNAL_")]


def test_every_service_intent_is_a_topic_and_in_the_domain(domain: dict[str, Any]) -> None:
    assert set(INTENT_SERVICE) <= set(TOPIC_INTENTS) <= set(domain["intents"])
    assert {s.intent for s in SERVICES} <= set(domain["intents"])


def test_the_knowledge_file_covers_exactly_the_catalogues_services() -> None:
    knowledge = load_knowledge(PROJECT_ROOT / "bot" / "knowledge.yml")
    assert list(knowledge.services) == list(SERVICE_KEYS)


def test_no_word_names_two_services() -> None:
    counts = Counter(alias for s in SERVICES for alias in s.aliases)
    assert [alias for alias, n in counts.items() if n > 1] == []
    assert len(set(SERVICE_KEYS)) == len(SERVICE_KEYS)
