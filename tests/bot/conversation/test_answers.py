"""Answers are built only from the store and the knowledge file, with the right responses."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from bot.conversation.answers import (
    Context,
    compensation_answer,
    connectivity_answer,
    dialable,
    eta_answer,
    greeting,
    notify_answer,
    notify_target,
    outage_summary,
    recheck_answer,
    security_answer,
    service_answer,
    services_answer,
    still_broken_answer,
    update_key,
)
from bot.conversation.dialogue import clarify, consecutive_fallbacks, single_offer
from bot.conversation.notify import NoticeView
from bot.conversation.receipts import notice_replies
from bot.conversation.reply import Reply
from bot.db.models import Impact, Incident, IncidentStatus, ServiceStatus
from bot.incidents.reads import read_overview
from bot.incidents.writes import create_incident, post_update, resolve_incident, set_impact
from bot.knowledge.file import Knowledge


@pytest.fixture
def ctx(session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo) -> Context:
    return Context(read_overview(session, now), knowledge, tz)


def fresh(session: Session, knowledge: Knowledge, now: datetime, tz: ZoneInfo) -> Context:
    session.commit()
    return Context(read_overview(session, now), knowledge, tz)


def names(replies: list) -> list[str]:  # type: ignore[type-arg]
    return [r.response for r in replies]


def test_affected_service_gets_state_update_eta_and_workaround(ctx: Context) -> None:
    replies = service_answer(ctx, "top_up")
    assert names(replies) == [
        "utter_service_major_outage",
        "utter_service_incident",
        "utter_latest_update",
        "utter_eta_none",
        "utter_workarounds_confirmed",
        "utter_workarounds_unconfirmed",
    ]
    assert replies[0].variables["service_name"] == "Prepaid top-up"
    assert replies[1].variables["incident_title"] == "Back-end systems outage after failed maintenance"
    assert replies[2].variables["update_time"] == "1:50 pm today, 40 minutes ago"
    assert replies[3].variables["next_update_time"].startswith("4:30 pm today")
    assert "*100*" in replies[5].variables["steps"]


def test_call_diversion_fills_in_the_customers_number(ctx: Context) -> None:
    replies = service_answer(ctx, "call_diversion", divert_to="021 555 0199")
    steps = next(r for r in replies if r.response == "utter_workarounds_confirmed").variables["steps"]
    assert "**21*0215550199#" in steps and "##21#" in steps


@pytest.mark.parametrize("number", [None, "", "call me", "12", "+64 21 555 0199 ext 9", 5])
def test_only_plausible_numbers_are_dialable(number: object) -> None:
    assert dialable(number) is None


def test_restored_service_quotes_its_update(ctx: Context) -> None:
    (reply,) = service_answer(ctx, "voicemail")
    assert reply.response == "utter_service_restored"
    assert reply.variables["update_message"] == "Voicemail has been restored."
    assert reply.variables["update_time"] == "8:00 am today, 6 hours ago"


def test_unaffected_connectivity_is_said_to_work(ctx: Context) -> None:
    (reply,) = connectivity_answer(ctx, None)
    assert reply.response == "utter_connectivity_ok"
    assert reply.variables["services"] == "Mobile calls, texts and data, Broadband and Landline"
    (one,) = connectivity_answer(ctx, "broadband")
    assert one.response == "utter_service_normal"


def test_summary_lists_broken_and_working_one_line_per_state_worst_first(ctx: Context) -> None:
    replies = outage_summary(ctx)
    assert names(replies) == [
        "utter_outage_summary",
        "utter_summary_major_outage",
        "utter_summary_partial_outage",
        "utter_summary_working",
        "utter_latest_update",
        "utter_eta_none",
    ]
    down, partly, working = (r.variables["services"] for r in replies[1:4])
    assert down.startswith("Prepaid top-up, Roaming") and partly == "Bill payments and Stores"
    assert "Broadband" in working and "Voicemail" in working and "Broadband" not in down + partly


def test_eta_known_after_operator_sets_one(
    session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo
) -> None:
    post_update(
        session, demo, message="Fix expected by 6pm.", now=now, eta=now + timedelta(hours=3, minutes=30), actor="test"
    )
    ctx = fresh(session, knowledge, now, tz)
    (reply,) = eta_answer(ctx, "roaming")
    assert reply.response == "utter_eta_service_known"
    assert reply.variables == {"service_name": "Roaming", "eta_time": "6:00 pm today, in 4 hours"}


def test_eta_without_service_covers_every_active_incident(ctx: Context) -> None:
    (reply,) = eta_answer(ctx, None)
    assert reply.response == "utter_eta_incident_none"
    assert reply.variables["incident_title"] == "Back-end systems outage after failed maintenance"


def test_eta_for_a_working_service_says_it_works(ctx: Context) -> None:
    assert names(eta_answer(ctx, "email")) == ["utter_service_restored"]


def test_eta_with_no_next_update_is_honest(
    session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo
) -> None:
    post_update(session, demo, message="Still working on it.", now=now, actor="test")
    ctx = fresh(session, knowledge, now, tz)
    assert names(eta_answer(ctx, "top_up")) == ["utter_eta_service_none_no_next"]


def test_security_quotes_stated_cause(ctx: Context) -> None:
    (reply,) = security_answer(ctx)
    assert reply.response == "utter_security_cause"
    assert "not a cyber" in reply.variables["cause"]


def test_security_without_a_stated_cause_does_not_guess(
    session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo
) -> None:
    session.get(Incident, demo).cause = None  # type: ignore[union-attr]
    ctx = fresh(session, knowledge, now, tz)
    (reply,) = security_answer(ctx)
    assert reply.response == "utter_security_no_cause"
    assert "cause" not in reply.variables


def test_compensation_quotes_policy_and_offers(ctx: Context) -> None:
    replies = compensation_answer(ctx)
    assert names(replies) == ["utter_compensation_policy", "utter_compensation_offer"]
    assert replies[0].variables["policy"] == ctx.knowledge.compensation_policy


def test_greeting_opens_with_notice_only_during_major_incident(
    session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo
) -> None:
    ctx = fresh(session, knowledge, now, tz)
    (reply,) = greeting(ctx)
    assert reply.response == "utter_greet_incident"
    assert "Prepaid top-up" in reply.variables["affected_services"]
    resolve_incident(session, demo, message="Fixed.", now=now, actor="test")
    create_incident(
        session,
        title="Slow email",
        message="A bit slow.",
        now=now,
        impact=Impact.MINOR,
        impacts={"email": ServiceStatus.DEGRADED_PERFORMANCE},
        actor="test",
    )
    assert names(greeting(fresh(session, knowledge, now, tz))) == ["utter_greet"]


def test_resolved_outage_answers_resolved_without_restart(
    session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo
) -> None:
    resolve_incident(session, demo, message="Everything is back to normal.", now=now, actor="test")
    ctx = fresh(session, knowledge, now, tz)
    (reply,) = service_answer(ctx, "top_up")
    assert reply.response == "utter_service_resolved"
    assert reply.variables["update_message"] == "Everything is back to normal."
    assert names(outage_summary(ctx)) == ["utter_no_outage_recently_resolved"]


def test_degraded_and_maintenance_have_their_own_wording(
    session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo
) -> None:
    set_impact(session, demo, "email", ServiceStatus.DEGRADED_PERFORMANCE, now=now, actor="test")
    set_impact(session, demo, "voicemail", ServiceStatus.UNDER_MAINTENANCE, now=now, actor="test")
    ctx = fresh(session, knowledge, now, tz)
    assert service_answer(ctx, "email")[0].response == "utter_service_degraded_performance"
    assert service_answer(ctx, "voicemail")[0].response == "utter_service_under_maintenance"


def test_notify_subscribes_to_the_affected_service_and_says_when_the_next_update_is_due(ctx: Context) -> None:
    incident = notify_target(ctx, "top_up")
    assert incident is not None and incident.is_active
    (reply,) = notify_answer(ctx, "top_up", incident, subscribed=True)
    assert reply.response == "utter_notify_subscribed_next"
    assert reply.variables["subject"] == "Prepaid top-up" and reply.variables["next_update_time"]
    assert names(notify_answer(ctx, "top_up", incident, subscribed=False)) == ["utter_notify_already"]


def test_notify_for_a_working_service_has_nothing_to_wait_for(ctx: Context) -> None:
    assert notify_target(ctx, "broadband") is None
    (reply,) = notify_answer(ctx, "broadband", None, subscribed=False)
    assert reply.response == "utter_notify_nothing" and reply.variables["subject"] == "Broadband"


def test_notice_replies_say_update_or_resolved_with_local_time(now: datetime, tz: ZoneInfo) -> None:
    update = NoticeView(1, "Roaming", "Outage", IncidentStatus.IDENTIFIED, "Cause found.", now - timedelta(hours=1))
    fixed = NoticeView(2, None, "Outage", IncidentStatus.RESOLVED, "All fixed.", now)
    first, second = notice_replies([update, fixed], tz, now)
    assert first.response == "utter_notify_update" and first.variables["subject"] == "Roaming"
    assert first.variables["update_time"] == "1:30 pm today, 1 hour ago"
    assert second.response == "utter_notify_resolved" and second.variables["subject"] == '"Outage"'


def test_no_incident_at_all(session: Session, knowledge: Knowledge, now: datetime, tz: ZoneInfo) -> None:
    from bot.incidents.writes import sync_catalogue

    sync_catalogue(session, knowledge)
    ctx = fresh(session, knowledge, now, tz)
    assert names(outage_summary(ctx)) == ["utter_no_outage"]
    assert names(security_answer(ctx)) == ["utter_security_no_incident"]
    assert names(service_answer(ctx, "top_up")) == ["utter_service_normal"]
    assert notify_target(ctx, None) is None
    assert names(notify_answer(ctx, None, None, subscribed=False)) == ["utter_notify_nothing"]


def test_clarify_offers_two_topics_then_a_person() -> None:
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.3},
        {"name": "greet", "confidence": 0.2},
        {"name": "roaming", "confidence": 0.18},
        {"name": "top_up", "confidence": 0.1},
        {"name": "email", "confidence": 0.05},
    ]
    titles = {"roaming": "Roaming overseas", "top_up": "Topping up", "email": "Email"}
    (reply,) = clarify(ranking, 1, titles)
    assert reply.buttons == [
        {"title": "Roaming overseas", "payload": "/roaming"},
        {"title": "Topping up", "payload": "/top_up"},
    ]
    assert names(clarify(ranking, 2, titles)) == ["utter_clarify_failed"]
    assert names(clarify([{"name": "greet"}], 1, titles)) == ["utter_clarify_generic"]


def test_consecutive_fallbacks_counts_only_the_latest_run() -> None:
    assert consecutive_fallbacks(["nlu_fallback", "top_up", "nlu_fallback", "nlu_fallback"]) == 2
    assert consecutive_fallbacks(["nlu_fallback", "greet"]) == 0
    assert consecutive_fallbacks([]) == 0


# --- several services, repeats, grammar, overdue updates, "fixed but not for me" -----------------


def test_two_services_of_one_incident_get_a_line_each_and_the_update_once(ctx: Context) -> None:
    replies = services_answer(ctx, ["top_up", "account"])
    assert names(replies) == [
        "utter_service_brief_major_outage",
        "utter_service_brief_major_outage",
        "utter_services_incident",
        "utter_latest_update",
        "utter_eta_none",
        "utter_workarounds_for",
        "utter_workarounds_for",
        "utter_checked",
    ]
    assert [r.variables["service_name"] for r in replies[:2]] == [
        "Prepaid top-up",
        "Website and app login (My Account)",
    ]
    assert "*100*" not in replies[5].variables["steps"]  # only confirmed workarounds in the short form


def test_a_working_service_beside_a_broken_one_says_it_works(ctx: Context) -> None:
    replies = services_answer(ctx, ["top_up", "broadband"])
    assert names(replies)[:2] == ["utter_service_brief_major_outage", "utter_service_brief_working"]
    assert names(replies).count("utter_latest_update") == 1


def test_one_service_named_gets_the_full_answer(ctx: Context) -> None:
    assert names(services_answer(ctx, ["top_up"])) == names(service_answer(ctx, "top_up"))


def test_an_update_already_quoted_is_referred_to_not_quoted_again(ctx: Context) -> None:
    first = service_answer(ctx, "top_up")
    (quoted,) = [r.quotes for r in first if r.quotes]
    again = service_answer(Context(ctx.overview, ctx.knowledge, ctx.tz, quoted=frozenset({quoted})), "roaming")
    assert "utter_latest_update" not in names(again)
    (unchanged,) = [r for r in again if r.response == "utter_update_unchanged"]
    (update,) = [r for r in first if r.response == "utter_latest_update"]
    assert unchanged.variables == {"update_time": update.variables["update_time"]}


def test_a_new_update_is_quoted_in_full(
    session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo
) -> None:
    before = service_answer(fresh(session, knowledge, now, tz), "top_up")
    seen = frozenset(r.quotes for r in before if r.quotes)
    post_update(session, demo, message="Top-ups are coming back.", now=now, actor="test")
    ctx = fresh(session, knowledge, now, tz)
    after = service_answer(Context(ctx.overview, knowledge, tz, quoted=seen), "top_up")
    assert [r.variables["update_message"] for r in after if r.response == "utter_latest_update"] == [
        "Top-ups are coming back."
    ]


def test_update_keys_differ_by_time_and_words(ctx: Context) -> None:
    update = ctx.overview.service("top_up").update
    assert update is not None
    assert update_key(update) == update_key(update) and len(update_key(update)) == 12


def test_plural_service_names_take_are(ctx: Context) -> None:
    (state, *_) = service_answer(ctx, "billing")
    assert state.response == "utter_service_partial_outage"
    assert state.variables["service_name"] == "Bill payments" and state.variables["is_are"] == "are"
    assert service_answer(ctx, "top_up")[0].variables["is_are"] == "is"


def test_an_overdue_update_is_called_out_with_the_latest_time(
    session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo
) -> None:
    later = now + timedelta(hours=3)  # the scenario promised the next update within two hours
    ctx = Context(read_overview(session, later), knowledge, tz, now=later)
    replies = service_answer(ctx, "top_up")
    (overdue,) = [r for r in replies if r.response == "utter_eta_none_overdue"]
    assert overdue.variables["next_update_time"].startswith("4:30 pm today, 1 hour ago")
    assert overdue.variables["latest_time"].startswith("1:50 pm today")
    assert "utter_eta_none" not in names(replies)
    assert "utter_eta_incident_none_overdue" in names(eta_answer(ctx, None))


def test_an_overdue_update_is_called_out_even_with_an_eta(
    session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo
) -> None:
    post_update(
        session,
        demo,
        message="Fix tonight.",
        now=now,
        eta=now + timedelta(hours=8),
        next_update_at=now + timedelta(hours=1),
        actor="test",
    )
    session.commit()
    later = now + timedelta(hours=2)
    ctx = Context(read_overview(session, later), knowledge, tz, now=later)
    assert names(service_answer(ctx, "top_up"))[3:5] == ["utter_eta_known", "utter_update_overdue"]


def test_fixed_but_not_for_me_gets_troubleshooting_and_a_person(ctx: Context, knowledge: Knowledge) -> None:
    replies = still_broken_answer(ctx, "voicemail")  # restored in the demo
    assert names(replies) == ["utter_still_broken_after_restore", "utter_offer_escalation_restored"]
    steps = replies[0].variables["steps"]
    assert all(s in steps for s in knowledge.service("voicemail").troubleshooting)
    assert knowledge.service("voicemail").normal_way in steps


def test_still_broken_for_a_service_no_outage_touched_is_not_called_working_again(ctx: Context) -> None:
    replies = still_broken_answer(ctx, "broadband")  # never down in the demo
    assert names(replies) == ["utter_still_broken_not_down", "utter_offer_escalation_restored"]


def test_still_broken_while_affected_gets_the_service_answer(ctx: Context) -> None:
    assert names(still_broken_answer(ctx, "top_up")) == names(service_answer(ctx, "top_up"))


def seen_update(ctx: Context, key: str) -> Context:
    """`ctx` as a conversation that was quoted `key`'s latest update."""
    update = ctx.overview.service(key).update
    assert update is not None
    return Context(ctx.overview, ctx.knowledge, ctx.tz, quoted=frozenset({update_key(update)}))


def test_still_broken_after_the_answer_says_it_is_the_outage_and_gives_the_next_step(ctx: Context) -> None:
    replies = still_broken_answer(seen_update(ctx, "top_up"), "top_up", answered=True)
    assert names(replies) == [
        "utter_still_broken_still_down",
        "utter_update_unchanged",  # what changed: nothing since the update it was quoted
        "utter_eta_none",
        "utter_checked",
        "utter_workarounds_next",
    ]
    assert replies[-1].variables["first_step"].startswith("Voucher cards bought in a shop")  # not auto-renew again
    assert "auto-renew" not in replies[-1].variables["steps"]


def test_still_broken_after_the_answer_with_no_other_step_offers_none(ctx: Context) -> None:
    replies = still_broken_answer(ctx, "store", answered=True)  # one confirmed step, given already
    assert "utter_workarounds_next" not in names(replies) and "utter_latest_update" in names(replies)


def test_and_now_about_an_affected_service_says_what_changed_without_repeating_steps(
    ctx: Context, session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo
) -> None:
    assert names(recheck_answer(seen_update(ctx, "roaming"), "roaming")) == [
        "utter_service_major_outage",
        "utter_service_incident",
        "utter_update_unchanged",
        "utter_eta_none",
    ]
    heard = seen_update(ctx, "roaming").quoted
    post_update(session, demo, message="Roaming is coming back region by region.", now=now, actor="test")
    now_ctx = fresh(session, knowledge, now, tz)
    later = recheck_answer(Context(now_ctx.overview, knowledge, tz, quoted=heard), "roaming")
    assert names(later)[:3] == ["utter_service_major_outage", "utter_service_incident", "utter_latest_update"]
    assert later[2].variables["update_message"] == "Roaming is coming back region by region."


def test_and_now_about_a_service_back_or_never_down_is_its_answer_and_without_one_the_summary(ctx: Context) -> None:
    assert names(recheck_answer(ctx, "email")) == ["utter_service_restored"]
    assert names(recheck_answer(ctx, "broadband")) == ["utter_service_normal"]
    assert names(recheck_answer(ctx, None))[0] == "utter_outage_summary"


def test_a_reply_never_offers_a_person_twice() -> None:
    replies = [Reply("utter_compensation_policy"), Reply("utter_compensation_offer"), Reply("utter_offer_escalation")]
    assert names(single_offer(replies)) == ["utter_compensation_policy", "utter_offer_escalation"]
    assert names(single_offer(replies[:2])) == ["utter_compensation_policy", "utter_compensation_offer"]


def test_several_services_fill_the_customers_number_into_handset_codes(ctx: Context) -> None:
    replies = services_answer(ctx, ["call_diversion", "voicemail"], divert_to="021 123 4567")
    (steps,) = [r.variables["steps"] for r in replies if r.response == "utter_workarounds_for"]
    assert "**21*0211234567#" in steps and "<number>" not in steps
