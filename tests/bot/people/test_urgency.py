"""Urgency: what the NLU heard and the knowledge file's words, the higher winning."""

from __future__ import annotations

from typing import Any

import pytest

from bot.db.models import Urgency
from bot.knowledge.file import Knowledge
from bot.people.urgency import answer_is_urgent, heard, in_words, mentions_any, urgency_of


def parse(name: object, confidence: float = 0.9) -> dict[str, Any]:
    return {"intent": {"name": "call_diversion"}, "urgency": {"name": name, "confidence": confidence}}


def test_safety_words_match_whole_words_only(knowledge: Knowledge) -> None:
    words = knowledge.safety_words
    assert mentions_any("Mum has a medical alarm on the landline", words)
    assert mentions_any("I don't feel SAFE... actually I'm not safe at home", words)
    assert not mentions_any("my emergencies folder is full", words)  # "emergency" is not a word here
    assert not mentions_any("can't top up", words)
    assert not mentions_any(None, words)


def test_the_operators_words_alone_still_count(knowledge: Knowledge) -> None:
    assert in_words("I have a job interview at 3", knowledge) is Urgency.TIME_CRITICAL
    assert urgency_of("I have a job interview at 3", knowledge, parse("normal")) is Urgency.TIME_CRITICAL
    assert urgency_of("mum's medical alarm is silent", knowledge, None) is Urgency.SAFETY


def test_what_the_nlu_heard_counts_without_any_of_the_words(knowledge: Knowledge) -> None:
    text = "I'll lose my job if I can't divert my calls today"
    assert in_words(text, knowledge) is None
    assert urgency_of(text, knowledge, parse("time_critical")) is Urgency.TIME_CRITICAL
    assert urgency_of("someone is outside my door", knowledge, parse("safety")) is Urgency.SAFETY


def test_the_higher_of_the_two_wins(knowledge: Knowledge) -> None:
    assert urgency_of("my medical alarm", knowledge, parse("time_critical")) is Urgency.SAFETY
    assert urgency_of("a job interview today", knowledge, parse("safety")) is Urgency.SAFETY


@pytest.mark.parametrize(
    "parse_data",
    [None, {}, {"urgency": None}, {"urgency": "safety"}, parse("normal"), parse("panic"), parse(7), parse(None)],
)
def test_nothing_urgent_is_read_from_a_normal_or_odd_parse(parse_data: dict[str, Any] | None) -> None:
    assert heard(parse_data) is None


def test_a_plain_message_is_not_urgent(knowledge: Knowledge) -> None:
    assert urgency_of("how do I top up", knowledge, parse("normal")) is None


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Yes, it's time-critical", True),
        ("yes - job interview at 3", True),
        ("No, it can wait", False),
        ("nah", False),
        ("maybe", None),
        (None, None),
    ],
)
def test_urgency_answers(text: str | None, answer: bool | None) -> None:
    assert answer_is_urgent(text) is answer
