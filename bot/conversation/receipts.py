"""Replies about a customer's own requests: the receipt for an escalation and where it stands,
moving it to another service, "it's back" when staff close it, and the updates they asked to
hear about."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.conversation.notify import NoticeView
from bot.conversation.reply import Reply
from bot.core.timefmt import format_when
from bot.db.models import IncidentStatus, Urgency
from bot.knowledge.file import Knowledge
from bot.people.closing import ClosingView
from bot.people.escalations import Receipt
from bot.people.queue import Wait

REFILE_INTENT = "escalation_service"
MAX_REFILE_BUTTONS = 4


def refile_payload(key: str) -> str:
    return f'/{REFILE_INTENT}{{"service": "{key}"}}'


def escalation_receipt(made: Receipt, knowledge: Knowledge, affected: Sequence[str] = ()) -> list[Reply]:
    """The reference, what it was filed under (with buttons to move it to another service the
    outage affects), when staff work, and the honest place and wait."""
    variables = {"reference": made.reference, "staff_hours": knowledge.staff_hours}
    if not made.created:
        replies = [Reply("utter_escalation_existing", variables)]
    elif made.urgency is Urgency.SAFETY:
        replies = [Reply("utter_escalation_confirmed_safety", variables)]
    else:
        replies = [Reply("utter_escalation_confirmed", variables)]
    if made.created:
        names = ", ".join(knowledge.services[k].name for k in made.services if k in knowledge.services)
        others = [k for k in affected if k not in made.services and k in knowledge.services][:MAX_REFILE_BUTTONS]
        buttons = [{"title": knowledge.services[k].name, "payload": refile_payload(k)} for k in others]
        if names:
            replies.append(Reply("utter_escalation_filed_under", {"services": names}, buttons))
        elif buttons:
            replies.append(Reply("utter_escalation_filed_nowhere", buttons=buttons))
    return [*replies, *wait_replies(made.wait)]


def refile_replies(reference: str | None, services: Sequence[str], knowledge: Knowledge) -> list[Reply]:
    """The answer to "it's about email, not top-ups" after a request was filed."""
    if reference is None:
        return [Reply("utter_queue_none")]
    names = ", ".join(knowledge.services[k].name for k in services if k in knowledge.services)
    if not names:
        return [Reply("utter_escalation_refile_which")]
    return [Reply("utter_escalation_refiled", {"reference": reference, "services": names})]


def wait_replies(wait: Wait | None) -> list[Reply]:
    """Where the customer's request stands: position, and an estimate only when one is honest."""
    if wait is None:
        return [Reply("utter_queue_none")]
    variables = {"position": str(wait.position), "window_hours": str(wait.window_hours)}
    if wait.urgency is Urgency.SAFETY:
        return [Reply("utter_queue_safety_first", variables)]
    if wait.minutes is None:
        return [Reply("utter_queue_wait_unknown", variables)]
    return [Reply("utter_queue_wait", variables | {"wait_minutes": str(wait.minutes)})]


def closing_replies(notices: Sequence[ClosingView]) -> list[Reply]:
    """ "It's back": the reference, the service, staff's words, and what to do if it still fails."""
    return [
        Reply(
            "utter_escalation_closed_notice" if n.service_back else "utter_escalation_resolved_notice",
            {"reference": n.reference, "subject": n.subject, "closing_message": n.message},
        )
        for n in notices
    ]


def notice_replies(notices: Sequence[NoticeView], ctx_tz: ZoneInfo, now: datetime) -> list[Reply]:
    """Messages for subscribers: one per incident update they had not heard about."""
    replies = []
    for n in notices:
        variables = {
            "subject": n.service_name or f'"{n.incident_title}"',
            "update_time": format_when(n.posted_at, now, ctx_tz),
            "update_message": n.message,
        }
        kind = "utter_notify_resolved" if n.status is IncidentStatus.RESOLVED else "utter_notify_update"
        replies.append(Reply(kind, variables))
    return replies
