"""How urgent a customer's need is: one decision, used by every answer and by the escalation form.

Two sources, the higher wins:
- what the NLU heard (rasa_plugins.components.UrgencyClassifier, trained on our own examples
  in data/nlu/urgency.yml), so that "I'll lose my job if my calls aren't diverted" counts
  although none of the operator's words is in it;
- the knowledge file's safety and time-critical words, a floor the operator controls, so a
  word they add takes effect without retraining.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from bot.db.models import Urgency
from bot.knowledge.file import Knowledge

_YES = re.compile(r"^\s*(yes|yep|yeah|yea|ae|aye|y|urgent|it is|it's urgent|very)\b", re.IGNORECASE)
_NO = re.compile(r"^\s*(no|nope|nah|n|not really|not urgent|it can wait)\b", re.IGNORECASE)
_RANK = {Urgency.NORMAL: 0, Urgency.TIME_CRITICAL: 1, Urgency.SAFETY: 2}


def mentions_any(text: object, words: Iterable[str]) -> bool:
    """Whether a message holds any of `words` as whole words (the knowledge file's safety or
    time-critical words)."""
    if not isinstance(text, str):
        return False
    lowered = text.lower()
    return any(re.search(rf"\b{re.escape(word)}\b", lowered) for word in words)


def in_words(text: object, knowledge: Knowledge) -> Urgency | None:
    """SAFETY or TIME_CRITICAL when a message says so in the operator's words, else None."""
    if mentions_any(text, knowledge.safety_words):
        return Urgency.SAFETY
    if mentions_any(text, knowledge.time_critical_words):
        return Urgency.TIME_CRITICAL
    return None


def heard(parse_data: Mapping[str, Any] | None) -> Urgency | None:
    """The NLU's reading of a message (its `urgency` output), or None when it heard nothing
    urgent, or the model has no urgency classifier."""
    found = (parse_data or {}).get("urgency")
    name = found.get("name") if isinstance(found, Mapping) else None
    try:
        urgency = Urgency(name) if isinstance(name, str) else None
    except ValueError:
        return None
    return None if urgency is Urgency.NORMAL else urgency


def urgency_of(text: object, knowledge: Knowledge, parse_data: Mapping[str, Any] | None = None) -> Urgency | None:
    """How urgent a customer's message is: the higher of what the NLU heard and the
    knowledge file's words; None when neither finds it urgent."""
    found = [u for u in (heard(parse_data), in_words(text, knowledge)) if u is not None]
    return max(found, key=_RANK.__getitem__) if found else None


def answer_is_urgent(text: object) -> bool | None:
    """The customer's answer to "is it urgent?": yes (time-critical), no, or None when it says neither."""
    if not isinstance(text, str):
        return None
    if _NO.match(text):
        return False
    if _YES.match(text):
        return True
    return None
