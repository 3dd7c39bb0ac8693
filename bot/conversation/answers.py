"""Turn the incident state and the knowledge file into responses to send.

Every reply names a response in the domain and fills its {placeholders}; the wording
lives in the domain, the facts come from the store and the knowledge file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.conversation.reply import Reply
from bot.core.timefmt import format_when
from bot.db.models import ServiceStatus
from bot.incidents.reads import IncidentView, Overview, ServiceState, StateKind, UpdateView
from bot.knowledge.catalogue import CONNECTIVITY_SERVICES
from bot.knowledge.file import Knowledge
from common.contact import phone_digits

# The order the outage summary lists states in: the worst first.
SUMMARY_ORDER = sorted((s for s in ServiceStatus if s.is_affected), key=lambda s: s.severity, reverse=True)


def update_key(update: UpdateView) -> str:
    """A short, stable name for one official update (its time and words), kept in a slot."""
    digest = hashlib.sha256(f"{update.posted_at.isoformat()}|{update.message}".encode()).hexdigest()
    return digest[:12]


@dataclass(frozen=True)
class Context:
    overview: Overview
    knowledge: Knowledge
    tz: ZoneInfo
    # The time of the question; differs from overview.as_of when the state is stale.
    now: datetime | None = None
    # Keys (update_key) of the official updates this conversation has already been quoted.
    quoted: frozenset[str] = frozenset()

    def when(self, moment: datetime) -> str:
        return format_when(moment, self.now or self.overview.as_of, self.tz)

    @property
    def as_of(self) -> str:
        return self.when(self.overview.as_of)

    @property
    def moment(self) -> datetime:
        return self.now or self.overview.as_of

    def overdue(self, incident: IncidentView) -> bool:
        return incident.overdue(self.moment)


def _bullets(lines: Sequence[str]) -> str:
    return "\n".join(f"• {line}" for line in lines)


def _overdue_variables(ctx: Context, incident: IncidentView) -> dict[str, str]:
    assert incident.next_update_at is not None
    latest = incident.latest_update.posted_at if incident.latest_update else incident.started_at
    return {"next_update_time": ctx.when(incident.next_update_at), "latest_time": ctx.when(latest)}


def _eta_replies(ctx: Context, incident: IncidentView, prefix: str = "utter_eta") -> list[Reply]:
    """The ETA or its absence, and the next update: promised, overdue (said openly), or none."""
    overdue = ctx.overdue(incident)
    if incident.eta is not None:
        replies = [Reply(f"{prefix}_known", {"eta_time": ctx.when(incident.eta)})]
        if overdue:
            replies.append(Reply("utter_update_overdue", _overdue_variables(ctx, incident)))
        return replies
    if overdue:
        return [Reply(f"{prefix}_none_overdue", _overdue_variables(ctx, incident))]
    if incident.next_update_at is not None:
        return [Reply(f"{prefix}_none", {"next_update_time": ctx.when(incident.next_update_at)})]
    return [Reply(f"{prefix}_none_no_next")]


def _update_reply(ctx: Context, update: UpdateView) -> Reply:
    """The official update in full the first time this conversation sees it; after that, a pointer."""
    key = update_key(update)
    if key in ctx.quoted:
        return Reply("utter_update_unchanged", {"update_time": ctx.when(update.posted_at)})
    return Reply(
        "utter_latest_update",
        {"update_time": ctx.when(update.posted_at), "update_message": update.message},
        quotes=key,
    )


def dialable(number: object) -> str | None:
    """Digits (and a leading +) of a phone number a customer typed, if it looks like one."""
    return phone_digits(number) if isinstance(number, str) else None


def _steps(ctx: Context, key: str, divert_to: str | None, confirmed: bool) -> list[str]:
    """The knowledge file's workarounds for `key` that are (or are not yet) confirmed."""
    number = dialable(divert_to)
    # Handset codes in the knowledge file use <number>; only the destination the customer
    # named fills it (bot.conversation.entities.diversion_target), never a number of theirs.
    return [
        s.text.replace("<number>", number) if number else s.text
        for s in ctx.knowledge.service(key).workarounds
        if s.confirmed is confirmed
    ]


def _workaround_replies(ctx: Context, key: str, divert_to: str | None = None) -> list[Reply]:
    confirmed = _steps(ctx, key, divert_to, confirmed=True)
    unconfirmed = _steps(ctx, key, divert_to, confirmed=False)
    replies = []
    if confirmed:
        # first_step: the one a short channel has room for (bot.conversation.fit).
        replies.append(Reply("utter_workarounds_confirmed", {"steps": _bullets(confirmed), "first_step": confirmed[0]}))
    if unconfirmed:
        replies.append(Reply("utter_workarounds_unconfirmed", {"steps": _bullets(unconfirmed)}))
    return replies or [Reply("utter_no_workaround")]


def _where_it_stands(ctx: Context, state: ServiceState, incident: IncidentView) -> list[Reply]:
    """An affected service: its state and the incident it is part of, the latest update (or that
    nothing changed since the one this conversation was quoted), and the ETA or its absence."""
    info = ctx.knowledge.service(state.key)
    since = ctx.when(incident.started_at)
    line = {"service_name": state.name, "is_are": info.is_are, "as_of": ctx.as_of, "since": since}
    replies = [
        Reply(f"utter_service_{state.status.value}", line),
        Reply("utter_service_incident", {"incident_title": incident.title}),
    ]
    if state.update is not None:
        replies.append(_update_reply(ctx, state.update))
    return replies + _eta_replies(ctx, incident)


def service_answer(ctx: Context, key: str, divert_to: str | None = None) -> list[Reply]:
    """What a customer asking about one service needs: state, latest update, ETA, workaround."""
    state = ctx.overview.service(key)
    info = ctx.knowledge.service(key)
    base = {"service_name": state.name, "is_are": info.is_are, "as_of": ctx.as_of}
    incident = state.incident
    if state.kind is StateKind.AFFECTED and incident is not None:
        return _where_it_stands(ctx, state, incident) + _workaround_replies(ctx, key, divert_to)
    if state.kind is StateKind.RESTORED and state.update is not None:
        return [
            Reply(
                "utter_service_restored",
                {
                    **base,
                    "update_time": ctx.when(state.update.posted_at),
                    "update_message": state.update.message,
                    "normal_way": info.normal_way,
                },
            )
        ]
    if state.kind is StateKind.RESOLVED and incident is not None and incident.resolved_at is not None:
        return [
            Reply(
                "utter_service_resolved",
                {
                    **base,
                    "incident_title": incident.title,
                    "resolved_time": ctx.when(incident.resolved_at),
                    "update_message": state.update.message if state.update else incident.message,
                    "normal_way": info.normal_way,
                },
            )
        ]
    return [Reply("utter_service_normal", {**base, "normal_way": info.normal_way})]


def connectivity_answer(ctx: Context, key: str | None) -> list[Reply]:
    """One connectivity service if named; otherwise all of them, in detail only where affected."""
    if key is not None:
        return service_answer(ctx, key)
    states = [ctx.overview.service(k) for k in CONNECTIVITY_SERVICES]
    affected = [s for s in states if s.kind is StateKind.AFFECTED]
    if not affected:
        return [Reply("utter_connectivity_ok", {"services": _names(states), "as_of": ctx.as_of})]
    replies: list[Reply] = []
    for state in affected:
        replies += service_answer(ctx, state.key)
    return replies


def _names(states: Sequence[ServiceState]) -> str:
    names = [s.name for s in states]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _summary_lines(ov: Overview) -> list[Reply]:
    """One line per state, worst first, naming its services; the working ones last."""
    lines = [
        Reply(f"utter_summary_{status.value}", {"services": _names(named)})
        for status in SUMMARY_ORDER
        if (named := [s for s in ov.affected if s.status is status])
    ]
    if ov.working:
        lines.append(Reply("utter_summary_working", {"services": _names(ov.working)}))
    return lines


def outage_summary(ctx: Context) -> list[Reply]:
    """What is broken, what still works, the latest word and the ETA."""
    ov = ctx.overview
    if not ov.incidents:
        if ov.recently_resolved:
            last = ov.recently_resolved[0]
            assert last.resolved_at is not None
            return [
                Reply(
                    "utter_no_outage_recently_resolved",
                    {"incident_title": last.title, "resolved_time": ctx.when(last.resolved_at), "as_of": ctx.as_of},
                )
            ]
        return [Reply("utter_no_outage", {"as_of": ctx.as_of})]
    top = ov.incidents[0]
    replies = [
        Reply(
            "utter_outage_summary",
            {
                "incident_title": top.title,
                "incident_status": top.status.value,
                "since": ctx.when(top.started_at),
                "as_of": ctx.as_of,
            },
        ),
        *_summary_lines(ov),
    ]
    if top.latest_update is not None:
        replies.append(_update_reply(ctx, top.latest_update))
    replies += _eta_replies(ctx, top)
    for other in ov.incidents[1:]:
        replies.append(Reply("utter_other_incident", {"incident_title": other.title, "update_message": other.message}))
    return replies


def eta_answer(ctx: Context, key: str | None) -> list[Reply]:
    """The ETA for the service in context if it is affected; otherwise for every active incident."""
    if key is not None:
        state = ctx.overview.service(key)
        if state.kind is StateKind.AFFECTED and state.incident is not None:
            name = {"service_name": state.name}
            return [
                Reply(r.response, {**name, **r.variables})
                for r in _eta_replies(ctx, state.incident, "utter_eta_service")
            ]
        if ctx.overview.incidents:
            return service_answer(ctx, key)
    if not ctx.overview.incidents:
        return outage_summary(ctx)
    replies = []
    for incident in ctx.overview.incidents:
        for reply in _eta_replies(ctx, incident, "utter_eta_incident"):
            replies.append(Reply(reply.response, {"incident_title": incident.title, **reply.variables}))
    return replies


def security_answer(ctx: Context) -> list[Reply]:
    """Quote the stated cause; never guess one."""
    incidents = ctx.overview.incidents or ctx.overview.recently_resolved
    if not incidents:
        return [Reply("utter_security_no_incident", {"as_of": ctx.as_of})]
    replies = []
    for incident in incidents[:2]:
        if incident.cause:
            replies.append(Reply("utter_security_cause", {"incident_title": incident.title, "cause": incident.cause}))
        else:
            replies.append(Reply("utter_security_no_cause", {"incident_title": incident.title}))
    return replies


def compensation_answer(ctx: Context) -> list[Reply]:
    policy = ctx.knowledge.compensation_policy
    first = Reply("utter_compensation_policy", {"policy": policy}) if policy else Reply("utter_compensation_no_policy")
    return [first, Reply("utter_compensation_offer")]


def greeting(ctx: Context) -> list[Reply]:
    major = [i for i in ctx.overview.incidents if i.is_major]
    if major:
        return [
            Reply(
                "utter_greet_incident",
                {
                    "incident_title": major[0].title,
                    "affected_services": _names(ctx.overview.affected) if ctx.overview.affected else "—",
                },
            )
        ]
    return [Reply("utter_greet")]


def notify_target(ctx: Context, key: str | None) -> IncidentView | None:
    """The active incident a "tell me when it's fixed" would wait for, or None if there is none."""
    if key is not None:
        state = ctx.overview.service(key)
        return state.incident if state.kind is StateKind.AFFECTED and state.incident else None
    return ctx.overview.incidents[0] if ctx.overview.incidents else None


def notify_answer(ctx: Context, key: str | None, incident: IncidentView | None, subscribed: bool) -> list[Reply]:
    """The answer to notify_me: nothing to wait for, subscribed (with the next update time), or already subscribed."""
    subject = ctx.knowledge.services[key].name if key and key in ctx.knowledge.services else None
    if incident is None:
        return [Reply("utter_notify_nothing", {"subject": subject or "our services", "as_of": ctx.as_of})]
    subject = subject or f'"{incident.title}"'
    if not subscribed:
        return [Reply("utter_notify_already", {"subject": subject})]
    if incident.next_update_at is not None:
        return [
            Reply(
                "utter_notify_subscribed_next",
                {"subject": subject, "next_update_time": ctx.when(incident.next_update_at)},
            )
        ]
    return [Reply("utter_notify_subscribed", {"subject": subject})]


def stale_note(ctx: Context) -> list[Reply]:
    """When a source is failing: say how old the state is and that it may have changed."""
    return [Reply("utter_state_stale", {"as_of": ctx.as_of})] if ctx.overview.stale else []


def services_answer(ctx: Context, keys: Sequence[str], divert_to: str | None = None) -> list[Reply]:
    """Every service a message names. One service: its full answer. Several: one line of state
    each, the official update and ETA once per incident (once in all when they share one), and
    each affected service's confirmed workarounds."""
    if len(keys) == 1:
        return service_answer(ctx, keys[0], divert_to)
    states = [ctx.overview.service(key) for key in keys]
    replies: list[Reply] = []
    incidents: dict[int, tuple[IncidentView, UpdateView | None]] = {}
    for state in states:
        info = ctx.knowledge.service(state.key)
        base = {"service_name": state.name, "is_are": info.is_are}
        if state.kind is StateKind.AFFECTED:
            replies.append(Reply(f"utter_service_brief_{state.status.value}", base))
            if state.incident is not None:
                incidents.setdefault(state.incident.id, (state.incident, state.update))
        else:
            replies.append(Reply("utter_service_brief_working", {**base, "normal_way": info.normal_way}))
    shared = len(incidents) == 1
    for incident, update in incidents.values():
        variables = {"incident_title": incident.title, "since": ctx.when(incident.started_at)}
        replies.append(Reply("utter_services_incident" if shared else "utter_services_incident_each", variables))
        if update is not None:
            replies.append(_update_reply(ctx, update))
        replies += _eta_replies(ctx, incident)
    for state in states:
        steps = _steps(ctx, state.key, divert_to, confirmed=True) if state.kind is StateKind.AFFECTED else []
        if steps:
            fill = {"service_name": state.name, "steps": _bullets(steps), "first_step": steps[0]}
            replies.append(Reply("utter_workarounds_for", fill))
    replies.append(Reply("utter_checked", {"as_of": ctx.as_of}))
    return replies


def recheck_answer(ctx: Context, key: str | None) -> list[Reply]:
    """A follow-up such as "and now?" about the service under discussion: where it stands now,
    and what changed since this conversation last heard (a new update in full, or "no change
    since" the one it was quoted). The steps it was given are not repeated. With no service
    under discussion, the whole outage."""
    if key is None:
        return outage_summary(ctx)
    state = ctx.overview.service(key)
    if state.kind is StateKind.AFFECTED and state.incident is not None:
        return _where_it_stands(ctx, state, state.incident)
    return service_answer(ctx, key)  # back, resolved, or never down: its answer says which


def still_broken_answer(ctx: Context, key: str, answered: bool = False) -> list[Reply]:
    """A customer says a service still fails for them.

    Still affected: if this conversation already had its answer (`answered`), that it is not on
    their side, what changed, and the next confirmed step rather than the one they tried; else
    its answer. Back for everyone: what to try (from the knowledge file) and the offer of a person.
    """
    state = ctx.overview.service(key)
    if state.kind is StateKind.AFFECTED and state.incident is not None:
        if not answered:
            return service_answer(ctx, key)
        info = ctx.knowledge.service(key)
        still = Reply("utter_still_broken_still_down", {"service_name": state.name, "is_are": info.is_are})
        update = [_update_reply(ctx, state.update)] if state.update is not None else []
        steps = _steps(ctx, key, None, confirmed=True)[1:]
        # The steps after the first, which is the one the first answer gave.
        more = [Reply("utter_workarounds_next", {"steps": _bullets(steps), "first_step": steps[0]})] if steps else []
        return [still, *update, *_eta_replies(ctx, state.incident), Reply("utter_checked", {"as_of": ctx.as_of}), *more]
    info = ctx.knowledge.service(key)
    steps = [*info.troubleshooting, info.normal_way]
    variables = {"service_name": state.name, "is_are": info.is_are, "steps": _bullets(steps), "as_of": ctx.as_of}
    said = "utter_still_broken_after_restore" if restored_by(state) else "utter_still_broken_not_down"
    return [Reply(said, variables), Reply("utter_offer_escalation_restored")]


def restored_by(state: ServiceState) -> IncidentView | None:
    """The incident a service is back after, if it is: not one still down, and not one no outage
    touched. "Working again" is said, and a failed fix counted, only for such a service; saying
    it of any other would tell the customer of a fix that never happened."""
    back = state.kind in (StateKind.RESTORED, StateKind.RESOLVED)
    return state.incident if back else None
