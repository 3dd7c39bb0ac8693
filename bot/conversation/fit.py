"""Answers that fit the channel they go to.

The web chat (and the REST API) gets at most three bubbles and WEB_LIMIT characters in a first
answer: the state with its update and ETA in one, the best confirmed step in one, an offer of a
person in one. What does not fit goes to "more" (`later`), in order. The parts are added by
what a customer needs first: the state, the ETA, the update's time and emergency advice always;
then the best step for each service; then what still works; then the update's own words; then the rest.

SMS and WhatsApp (both through Twilio) get one message of at most 320 characters (three
concatenated segments of plain GSM text; one character outside GSM's alphabet, such as an
emoji, makes it five): the state, the update's time, the ETA or its absence, the most useful
confirmed workaround, and "reply MORE for details", which sends the rest. Messenger and
Telegram get the same short message with quick replies.

The words still come from the domain: each part is a domain response (its `channel: twilio`
variation on the short channels), rendered here so that the parts can go out together; Rasa
would send each response as a message of its own, each billed as at least one segment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.conversation.reply import OFFERS, Reply

# Channel -> the longest message it gets; None: short, but not limited to a length.
SHORT_CHANNELS: dict[str, int | None] = {"twilio": 320, "facebook": None, "telegram": None}
# The variation of the short parts that every short channel uses, after its own.
SHORT_VARIATION = "twilio"
# In the short message: the state, the update's time, the ETA, emergencies and staleness.
_SHORT = re.compile(
    r"utter_(emergency_help|service_(?!incident)\w+|checked|latest_update|update_unchanged|update_overdue|eta\w*"
    r"|state_stale|still_broken_\w+)$"
)
# Said in full by their short variation, so MORE need not repeat them.
_WHOLE = re.compile(r"utter_(emergency_help|checked|update_unchanged|update_overdue|eta\w*|state_stale)$")
_PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")


@dataclass(frozen=True)
class Fitted:
    text: str
    buttons: list[dict[str, str]]
    later: list[Reply]  # what MORE sends


def is_short(channel: str | None) -> bool:
    return channel in SHORT_CHANNELS


def render(
    responses: Mapping[str, Any], reply: Reply, channels: Sequence[str] = ()
) -> tuple[str, list[dict[str, str]]]:
    """A reply's text and buttons as Rasa would render them: the domain's variation for the first
    of `channels` that has one, else the first plain one; unknown placeholders stay as they are."""
    variations = [v for v in responses.get(reply.response) or [] if isinstance(v, dict)]
    chosen = next((v for c in channels for v in variations if v.get("channel") == c), None)
    chosen = chosen or next((v for v in variations if not v.get("channel")), {"text": ""})
    text = _PLACEHOLDER.sub(lambda m: str(reply.variables.get(m.group(1), m.group(0))), str(chosen.get("text", "")))
    buttons = [dict(b) for b in chosen.get("buttons") or [] if isinstance(b, dict)]
    return text, buttons


def fit(responses: Mapping[str, Any], replies: Sequence[Reply], channel: str) -> Fitted:
    """One short message for `channel`; what it leaves out goes to `later`, in order."""
    short = [r for r in replies if _SHORT.match(r.response)]
    offers = [r for r in replies if r.response in OFFERS]
    step = next((r.variables["first_step"] for r in replies if r.variables.get("first_step")), None)
    workaround = [Reply("utter_short_workaround", {"step": step})] if step else []
    later = [r for r in replies if r.response not in OFFERS and not _WHOLE.match(r.response)]
    hint = [Reply("utter_more_hint")] if later else []
    channels = (channel, SHORT_VARIATION)
    limit = SHORT_CHANNELS.get(channel)
    for parts in ([*short, *workaround, *offers, *hint], [*short, *offers, *hint]):  # MORE still has the workaround
        text, buttons = _join(responses, parts, channels)
        if limit is None or len(text) <= limit:
            return Fitted(text, buttons, later)
    # Too long even so: whole sentences up to the limit, then the hint. A fact is never cut in half.
    assert limit is not None
    text, buttons = _join(responses, [*short, *offers], channels)
    tail = _join(responses, hint, channels)[0]
    room = limit - len(tail) - 1
    body = text if len(text) <= room else text[:room].rsplit(". ", 1)[0].rstrip(".") + "."
    return Fitted(f"{body} {tail}".strip()[:limit], buttons, later)


def _join(
    responses: Mapping[str, Any], parts: Sequence[Reply], channels: Sequence[str]
) -> tuple[str, list[dict[str, str]]]:
    texts, buttons = [], []
    for part in parts:
        text, more = render(responses, part, channels)
        if text:
            texts.append(text)
        buttons += more
    return " ".join(texts), buttons


# The web's first answer: at most this many characters in all, in at most WEB_BUBBLES bubbles.
WEB_LIMIT = 600
WEB_BUBBLES = 3
_STEPS = frozenset({"utter_workarounds_confirmed", "utter_workarounds_for", "utter_workarounds_next"})
# Said only when there is room, otherwise on "more": what still works before the update's
# words (an offer of a person can leave no room for it in the summary), the rest after them.
_FIRST_IF_ROOM = re.compile(r"utter_summary_working$")
_OPTIONAL = re.compile(
    r"utter_(summary_working|services?_incident\w*|workarounds_unconfirmed|no_workaround|other_incident)$"
)
_EMERGENCY = "utter_emergency_help"
_UPDATE = "utter_latest_update"


@dataclass(frozen=True)
class Bubble:
    text: str
    buttons: list[dict[str, str]]
    # The responses it is made of, in order; the record keeps them as Rasa keeps utter_action.
    parts: list[str]


@dataclass(frozen=True)
class WebFitted:
    bubbles: list[Bubble]
    later: list[Reply]  # what "more" sends
    shown: list[Reply]  # what went out in full (an update quoted in full is remembered)


def fit_web(responses: Mapping[str, Any], replies: Sequence[Reply], limit: int = WEB_LIMIT) -> WebFitted:
    """The first answer on the web: emergency advice, the state, the best step, an offer; at most
    three bubbles and `limit` characters, with the rest kept for "more", in order.

    Emergency advice, the state lines, the ETA and the update's time always go out, even past
    the limit: the budget never hides what a customer needs to be safe or to know where things
    stand. Then, while there is room: each service's best step, what still works, the update's
    own words, the rest.
    """
    steps = [i for i, r in enumerate(replies) if r.response in _STEPS and r.variables.get("first_step")]
    offers = [i for i, r in enumerate(replies) if r.response in OFFERS]
    optional = [i for i, r in enumerate(replies) if _OPTIONAL.match(r.response)]
    update = [i for i, r in enumerate(replies) if r.response == _UPDATE]
    held = set(steps) | set(offers) | set(optional)
    layout = _WebLayout(responses, replies, required=[i for i in range(len(replies)) if i not in held], offers=offers)
    # Each upgrade stays only if the answer still fits; the state, ETA and offer never move.
    soon = [i for i in optional if _FIRST_IF_ROOM.match(replies[i].response)]
    upgrades = [
        *(("step", i) for i in steps),
        *(("part", i) for i in soon),
        *(("full", i) for i in update),
        *(("part", i) for i in optional if i not in soon),
    ]
    for upgrade in upgrades:
        layout.try_add(upgrade, limit)
    return layout.fitted()


class _WebLayout:
    """The parts chosen so far for a web answer, and how they render into bubbles."""

    def __init__(
        self, responses: Mapping[str, Any], replies: Sequence[Reply], required: list[int], offers: list[int]
    ) -> None:
        self.responses, self.replies = responses, replies
        self.lead = required  # indexes, in the answer's order
        self.offers = offers
        self.steps: list[int] = []
        self.full: set[int] = set()  # updates quoted in their own words
        # Each upgrade re-renders the answer to measure it; each part is rendered once.
        self._rendered: dict[object, tuple[str, list[dict[str, str]]]] = {}

    def _render(self, key: object, reply: Reply, channels: tuple[str, ...] = ()) -> tuple[str, list[dict[str, str]]]:
        if key not in self._rendered:
            self._rendered[key] = render(self.responses, reply, channels)
        return self._rendered[key]

    def try_add(self, upgrade: tuple[str, int], limit: int) -> None:
        kind, index = upgrade
        before = (list(self.lead), list(self.steps), set(self.full))
        if kind == "step":
            self.steps.append(index)
        elif kind == "full":
            self.full.add(index)
        else:
            self.lead = sorted([*self.lead, index])
        if sum(len(b.text) for b in self.bubbles()) > limit:
            self.lead, self.steps, self.full = before

    def _text(self, index: int) -> tuple[str, list[dict[str, str]]]:
        reply = self.replies[index]
        brief = reply.response == _UPDATE and index not in self.full
        return self._render((index, brief), reply, (SHORT_VARIATION,) if brief else ())

    def _step_reply(self) -> Reply | None:
        chosen = [self.replies[i] for i in self.steps]
        if not chosen:
            return None
        if len(chosen) == 1:
            return Reply("utter_short_workaround", {"step": chosen[0].variables["first_step"]})
        lines = [f"• {r.variables.get('service_name', '')}: {r.variables['first_step']}" for r in chosen]
        return Reply("utter_short_workarounds", {"steps": "\n".join(lines)})

    def said(self) -> set[int]:
        """The replies this answer says in full: not an update given only its time, and a list of
        steps only when its one step was given."""
        brief = {i for i in self.lead if self.replies[i].response == _UPDATE and i not in self.full}
        whole_steps = {i for i in self.steps if "\n" not in self.replies[i].variables.get("steps", "\n")}
        return (set(self.lead) - brief) | whole_steps

    def later(self) -> list[Reply]:
        said = self.said() | set(self.offers)
        return [r for i, r in enumerate(self.replies) if i not in said and not _WHOLE.match(r.response)]

    def bubbles(self) -> list[Bubble]:
        emergency = [i for i in self.lead if self.replies[i].response == _EMERGENCY]
        lead = [i for i in self.lead if i not in emergency]
        groups: list[list[tuple[str, list[dict[str, str]], str]]] = []
        for i in emergency:
            groups.append([(*self._render(i, self.replies[i]), self.replies[i].response)])
        if lead:
            groups.append([(*self._text(i), self.replies[i].response) for i in lead])
        step = self._step_reply()
        if step is not None:
            part = (*self._render(("step", *self.steps), step), step.response)
            # Emergency advice, the state and an offer already make three: the step joins the state.
            if len(groups) + 1 + bool(self.offers) > WEB_BUBBLES and groups:
                groups[-1].append(part)
            else:
                groups.append([part])
        if self.later():
            hint = Reply("utter_more_hint")
            part = (*self._render("hint", hint), hint.response)
            if groups:
                groups[-1].append(part)
            else:
                groups.append([part])
        for i in self.offers:
            groups.append([(*self._render(i, self.replies[i]), self.replies[i].response)])
        return [
            Bubble(
                "\n".join(text for text, _, _ in group if text),
                [b for _, buttons, _ in group for b in buttons],
                [name for _, _, name in group],
            )
            for group in groups
        ]

    def fitted(self) -> WebFitted:
        return WebFitted(self.bubbles(), self.later(), [r for i, r in enumerate(self.replies) if i in self.said()])


def as_stored(replies: Sequence[Reply]) -> list[dict[str, Any]]:
    """Replies as a slot can hold them (for MORE)."""
    return [{"response": r.response, "variables": dict(r.variables)} for r in replies]


def from_stored(value: object) -> list[Reply]:
    if not isinstance(value, list):
        return []
    return [
        Reply(str(item["response"]), {str(k): str(v) for k, v in (item.get("variables") or {}).items()})
        for item in value
        if isinstance(item, dict) and isinstance(item.get("response"), str)
    ]
