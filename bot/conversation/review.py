"""Customer messages the assistant was unsure of, labelled by staff, exported as training data.

This is how the assistant learns the wording of real customers rather than ours: the console
lists user messages from Rasa's tracker store that fell back or scored low, staff pick the
right intent, and `python -m bot.ops.cli review export` writes the labels as Rasa NLU data for
the next training run. Contact details are masked before a label is stored, so they never
reach the training data.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.core.errors import NotFoundError, ValidationError
from bot.db.audit import record
from bot.db.models import NluLabel
from bot.knowledge.catalogue import CUSTOMER_INTENTS
from bot.rasa_api import messages_and_forms_since, user_event_data
from common.contact import mask_private
from common.text import MAX_CHAT_MESSAGE, printable

# What staff choose for a message that is no request at all (spam, a test, keyboard mash):
# it leaves the review list and is never exported. Not an intent name, so it cannot clash.
IGNORE = "(ignore)"
# Below this, a message is worth a person's look even when it did not fall back.
REVIEW_CONFIDENCE = 0.6
FALLBACK = "nlu_fallback"
# During a big outage a week holds a great many messages; the page reads at most this many
# of the newest, so that it stays quick.
MAX_SCANNED = 20000
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ReviewItem:
    event_id: int
    conversation_id: str
    text: str
    predicted: str
    confidence: float
    fell_back: bool
    at: float


def clean(message: str) -> str:
    """One line of printable text, contact details masked, no Rasa entity markup, capped.

    Square brackets become round ones: in Rasa's training format `[words](entity)` is an
    entity annotation, and a customer's brackets must not turn into one.
    """
    value = mask_private(printable(message), email_as="someone@example.com", phone_as="021 000 0000")
    value = _SPACE.sub(" ", value).strip()
    return value.replace("[", "(").replace("]", ")").replace("{", "(").replace("}", ")")[:MAX_CHAT_MESSAGE]


def _key(cleaned: str) -> str:
    """The identity of a cleaned text: the same words in another case are the same label."""
    return hashlib.sha256(cleaned.casefold().encode("utf-8")).hexdigest()


def _parse(data: object) -> dict[str, Any] | None:
    try:
        event = json.loads(data) if isinstance(data, str | bytes) else data
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _prediction(event: dict[str, Any]) -> tuple[str, float, bool] | None:
    """(top intent other than the fallback, its confidence, whether the message fell back)."""
    parse = event.get("parse_data")
    if not isinstance(parse, dict):
        return None
    found = parse.get("intent")
    intent: dict[str, Any] = found if isinstance(found, dict) else {}
    listed = parse.get("intent_ranking")
    ranking = (
        [r for r in listed if isinstance(r, dict) and r.get("name") != FALLBACK] if isinstance(listed, list) else []
    )
    top: dict[str, Any] = ranking[0] if ranking else intent
    name, confidence = top.get("name"), top.get("confidence")
    if not isinstance(name, str) or not isinstance(confidence, int | float):
        return None
    return name, float(confidence), intent.get("name") == FALLBACK


def uncertain_messages(
    tracker: Engine,
    session: Session,
    since: datetime,
    *,
    threshold: float = REVIEW_CONFIDENCE,
    limit: int = 100,
    scan: int = MAX_SCANNED,
) -> list[ReviewItem]:
    """Newest first: user messages since `since` that fell back or scored below `threshold`.

    Left out: answers to a form's questions (a phone number, "yes, it's urgent"), which are
    not requests and would be noise as training data; button payloads ("/affirm"); empty
    texts; texts already labelled. Each distinct text appears once. Only the newest `scan`
    events are looked at.
    """
    rows = messages_and_forms_since(tracker, since, scan)
    in_form: dict[str, bool] = {}
    candidates: list[tuple[ReviewItem, str]] = []
    for event_id, sender, type_name, stamp, data in reversed(rows):  # oldest first, to follow forms
        event = _parse(data)
        if type_name == "active_loop":
            in_form[sender] = bool(event and event.get("name"))
            continue
        message = event.get("text") if event else None
        if in_form.get(sender) or not isinstance(message, str) or message.lstrip().startswith("/"):
            continue
        prediction = _prediction(event) if event else None
        if prediction is None or not (prediction[2] or prediction[1] < threshold):
            continue
        cleaned = clean(message)  # only for the few uncertain ones, not every event scanned
        if cleaned:
            item = ReviewItem(int(event_id), str(sender), message, *prediction, float(stamp))
            candidates.append((item, _key(cleaned)))
    seen = set(session.scalars(select(NluLabel.text_key)))
    items: list[ReviewItem] = []
    for item, key in reversed(candidates):
        if key not in seen:
            seen.add(key)  # once per distinct text, the newest
            items.append(item)
            if len(items) >= limit:
                break
    return items


def label_message(
    session: Session, tracker: Engine, event_id: int, intent: str, *, actor: str, now: datetime
) -> NluLabel:
    """Store `intent` for the text of user event `event_id` (relabelling replaces), with an audit row.

    The text is read from the tracker store, not taken from the form, so a label always
    belongs to something a customer really wrote.
    """
    if intent not in CUSTOMER_INTENTS and intent != IGNORE:
        raise ValidationError("unknown intent")
    data = user_event_data(tracker, event_id)
    event = _parse(data) if data is not None else None
    message = event.get("text") if event else None
    cleaned = clean(message) if isinstance(message, str) else ""
    if not cleaned:
        raise NotFoundError("no customer message with that id")
    prediction = _prediction(event) if event else None
    key = _key(cleaned)
    label = session.scalars(select(NluLabel).where(NluLabel.text_key == key)).first()
    if label is None:
        label = NluLabel(text_key=key, text=cleaned, intent=intent, labelled_by=actor, labelled_at=now)
        session.add(label)
    label.intent, label.labelled_by, label.labelled_at = intent, actor, now
    label.predicted = prediction[0] if prediction else None
    session.flush()
    record(
        session,
        actor=actor,
        action="nlu.label",
        now=now,
        detail={"label_id": label.id, "intent": intent, "predicted": label.predicted},
    )
    return label


def label_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(NluLabel.intent, func.count()).group_by(NluLabel.intent)).all()
    return {intent: count for intent, count in sorted(rows)}


def export_yaml(session: Session) -> str:
    """Every label but the ignored as Rasa NLU training data (YAML), grouped by intent, in a stable order."""
    by_intent: dict[str, list[str]] = {}
    query = select(NluLabel).where(NluLabel.intent != IGNORE).order_by(NluLabel.intent, NluLabel.id)
    for label in session.scalars(query):
        example = clean(label.text)
        if example:
            by_intent.setdefault(label.intent, []).append(example)
    lines = [
        "# Customer messages labelled by staff in the console (python -m bot.ops.cli review export).",
        "# Contact details are masked. Review before committing; never add benchmark text here.",
        'version: "3.1"',
        "nlu:" if by_intent else "nlu: []",
    ]
    for intent, examples in by_intent.items():
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {example}" for example in examples]
    return "\n".join(lines) + "\n"
