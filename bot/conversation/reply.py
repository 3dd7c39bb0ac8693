"""What an answer is made of: a response in the domain and the variables that fill its
{placeholders}. The wording lives in the domain; the facts come from the incident store and
the knowledge file."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.db.models import ServiceStatus

# Responses chosen by pattern rather than named literally: one per affected status, and the
# three ETA forms under each prefix. Tools that check the domain against the code use this.
PATTERNED_RESPONSES = frozenset(
    {f"utter_service_{s.value}" for s in ServiceStatus if s.is_affected}
    | {f"utter_service_brief_{s.value}" for s in ServiceStatus if s.is_affected}
    | {f"utter_summary_{s.value}" for s in ServiceStatus if s.is_affected}
    | {
        f"utter_eta{p}_{k}"
        for p in ("", "_service", "_incident")
        for k in ("known", "none", "none_no_next", "none_overdue")
    }
)
# The responses that offer a person; a reply carries at most one (single_offer).
OFFERS = ("utter_compensation_offer", "utter_offer_escalation", "utter_offer_escalation_restored")


@dataclass(frozen=True)
class Reply:
    response: str
    variables: dict[str, str] = field(default_factory=dict)
    buttons: list[dict[str, str]] = field(default_factory=list)
    # The official update this reply quotes in full (update_key), so that the conversation
    # can refer to it next time instead of quoting it again.
    quotes: str = ""
