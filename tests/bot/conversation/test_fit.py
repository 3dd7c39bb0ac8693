"""Short channels get one short message built from the domain's wording, and MORE gets the rest."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy.orm import Session

from bot.conversation.answers import Context, outage_summary, service_answer, services_answer, still_broken_answer
from bot.conversation.dialogue import with_urgency
from bot.conversation.fit import WEB_BUBBLES, WEB_LIMIT, WebFitted, as_stored, fit, fit_web, from_stored, render
from bot.conversation.reply import Reply
from bot.core.settings import PROJECT_ROOT
from bot.db.models import Urgency
from bot.incidents.reads import read_overview
from bot.knowledge.catalogue import SERVICE_KEYS
from bot.knowledge.file import Knowledge

SMS = 320


@pytest.fixture(scope="module")
def responses() -> dict[str, Any]:
    domain = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    loaded: dict[str, Any] = domain["responses"]
    return loaded


@pytest.fixture
def ctx(session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo) -> Context:
    return Context(read_overview(session, now), knowledge, tz)


@pytest.mark.parametrize("key", SERVICE_KEYS)
def test_every_service_answer_fits_one_sms_with_more_for_the_rest(
    responses: dict[str, Any], ctx: Context, key: str
) -> None:
    replies = service_answer(ctx, key)
    fitted = fit(responses, replies, "twilio")
    assert 0 < len(fitted.text) <= SMS, fitted.text
    assert "{" not in fitted.text  # every placeholder filled
    if fitted.later:
        assert fitted.text.endswith("Reply MORE for details.")


def test_the_sms_has_state_update_time_eta_and_the_best_workaround(responses: dict[str, Any], ctx: Context) -> None:
    fitted = fit(responses, service_answer(ctx, "top_up"), "twilio")
    assert fitted.text.startswith("Prepaid top-up: down (checked ")
    assert "Latest update 1:50 pm today" in fitted.text
    assert "No fix time yet; next update by 4:30 pm today" in fitted.text
    assert "Meanwhile: If your plan has auto-renew" in fitted.text
    later = [r.response for r in fitted.later]
    assert "utter_latest_update" in later and "utter_workarounds_unconfirmed" in later  # MORE has the words


def test_several_services_and_a_restore_report_fit_too(responses: dict[str, Any], ctx: Context) -> None:
    for replies in (
        services_answer(ctx, ["top_up", "account", "roaming"]),
        still_broken_answer(ctx, "voicemail"),
    ):
        fitted = fit(responses, replies, "twilio")
        assert len(fitted.text) <= SMS and "{" not in fitted.text, fitted.text


def test_a_long_answer_drops_the_workaround_then_whole_sentences_never_half_a_fact(
    responses: dict[str, Any],
) -> None:
    long_step = "x" * 400
    replies = [
        Reply("utter_service_major_outage", {"service_name": "Prepaid top-up", "is_are": "is", "as_of": "now"}),
        Reply("utter_workarounds_confirmed", {"steps": "• " + long_step, "first_step": long_step}),
    ]
    fitted = fit(responses, replies, "twilio")
    assert long_step not in fitted.text and fitted.text.endswith("Reply MORE for details.")
    many = [Reply("utter_emergency_help", {"emergency": f"Sentence {i} is here."}) for i in range(40)]
    fitted = fit(responses, [*many, Reply("utter_workarounds_confirmed", {"steps": "• a"})], "twilio")
    assert len(fitted.text) <= SMS and fitted.text.endswith("Reply MORE for details.")
    assert all(part.startswith("Sentence") for part in fitted.text.split(". Reply MORE")[0].split(". "))


def test_messenger_and_telegram_get_the_short_text_with_a_quick_reply(responses: dict[str, Any], ctx: Context) -> None:
    for channel in ("facebook", "telegram"):
        fitted = fit(responses, service_answer(ctx, "top_up"), channel)
        assert fitted.text.startswith("Prepaid top-up: down") and fitted.text.endswith("Want the details?")
        assert fitted.buttons == [{"title": "More details", "payload": "/more"}]


def test_one_offer_survives_on_a_short_channel(responses: dict[str, Any], ctx: Context) -> None:
    replies = [*service_answer(ctx, "top_up"), Reply("utter_offer_escalation")]
    fitted = fit(responses, replies, "twilio")
    assert fitted.text.count("Reply YES") == 1 and len(fitted.text) <= SMS


def test_render_takes_the_channels_variation_else_the_plain_one(responses: dict[str, Any]) -> None:
    reply = Reply("utter_latest_update", {"update_time": "9:00 am", "update_message": "Working on it."})
    assert render(responses, reply, ("twilio",)) == ("Latest update 9:00 am.", [])
    assert render(responses, reply) == ('Latest update, 9:00 am: "Working on it."', [])
    assert render(responses, Reply("utter_latest_update"))[0] == 'Latest update, {update_time}: "{update_message}"'


def test_stored_replies_survive_a_slot_and_junk_is_ignored() -> None:
    replies = [Reply("utter_latest_update", {"update_time": "9:00 am", "update_message": "x"})]
    assert from_stored(as_stored(replies)) == replies
    assert from_stored("junk") == [] and from_stored([{"no": "response"}, 3]) == []


def test_overdue_updates_are_called_out_in_the_sms(
    responses: dict[str, Any], session: Session, demo: int, knowledge: Knowledge, now: datetime, tz: ZoneInfo
) -> None:
    later = now + timedelta(hours=3)
    ctx = Context(read_overview(session, later), knowledge, tz, now=later)
    fitted = fit(responses, service_answer(ctx, "roaming"), "twilio")
    assert "the update due 4:30 pm today, 1 hour ago is overdue" in fitted.text and len(fitted.text) <= SMS


def web_text(fitted: WebFitted) -> str:
    return "\n".join(b.text for b in fitted.bubbles)


def first_answers(ctx: Context, knowledge: Knowledge) -> dict[str, list[Reply]]:
    """Every first answer the web can get on the demo outage: each service, each pair, the
    summary, and each service asked urgently (safety, time-critical)."""
    answers = {key: service_answer(ctx, key) for key in SERVICE_KEYS}
    answers |= {f"{a}+{b}": services_answer(ctx, [a, b]) for a in SERVICE_KEYS for b in SERVICE_KEYS if a < b}
    answers["summary"] = outage_summary(ctx)
    answers["summary time_critical"] = with_urgency(outage_summary(ctx), Urgency.TIME_CRITICAL, knowledge)
    for urgency in (Urgency.SAFETY, Urgency.TIME_CRITICAL):
        answers |= {
            f"{k} {urgency.value}": with_urgency(service_answer(ctx, k), urgency, knowledge) for k in SERVICE_KEYS
        }
    return answers


def test_every_first_web_answer_is_at_most_three_bubbles_and_600_characters(
    responses: dict[str, Any], ctx: Context, knowledge: Knowledge
) -> None:
    for name, replies in first_answers(ctx, knowledge).items():
        fitted = fit_web(responses, replies)
        text = web_text(fitted)
        assert 0 < len(fitted.bubbles) <= WEB_BUBBLES and len(text) <= WEB_LIMIT, (name, text)
        assert "{" not in text, (name, text)  # every placeholder filled
        assert bool(fitted.later) == ('Say "more" for the rest.' in text), name  # the hint, only when there is more


def test_the_first_web_answer_is_the_state_with_its_eta_then_the_best_step(
    responses: dict[str, Any], ctx: Context
) -> None:
    fitted = fit_web(responses, service_answer(ctx, "top_up"))
    state, step = fitted.bubbles
    assert state.text.startswith("Prepaid top-up: not working right now, since 7:00 am yesterday")
    assert "There's no ETA for the fix yet. The next update is due by 4:30 pm today" in state.text
    assert 'Latest update, 1:50 pm today, 40 minutes ago: "Teams are still working' in state.text  # room for its words
    assert step.text.startswith("Confirmed to work now: If your plan has auto-renew")
    assert step.buttons == [{"title": "More details", "payload": "/more"}]
    later = [r.response for r in fitted.later]
    # "more" has the rest, and which incident it is (no room for its title here)
    assert later == ["utter_service_incident", "utter_workarounds_confirmed", "utter_workarounds_unconfirmed"]


def test_two_services_get_a_line_of_state_and_a_best_step_each(responses: dict[str, Any], ctx: Context) -> None:
    fitted = fit_web(responses, services_answer(ctx, ["top_up", "account"]))
    text = web_text(fitted)
    assert "Prepaid top-up: not working right now." in text
    assert "Website and app login (My Account): not working right now." in text
    assert "• Prepaid top-up: If your plan has auto-renew" in text
    assert "• Website and app login (My Account): Your services keep working" in text
    assert len(fitted.bubbles) == 2


def test_long_update_words_wait_for_more_and_are_not_taken_as_quoted(responses: dict[str, Any], ctx: Context) -> None:
    replies = service_answer(ctx, "roaming")
    words = "The fix is going slowly. " * 20
    replies = [
        Reply(r.response, {**r.variables, "update_message": words}, quotes=r.quotes)
        if r.response == "utter_latest_update"
        else r
        for r in replies
    ]
    fitted = fit_web(responses, replies)
    text = web_text(fitted)
    assert words not in text and "Latest update 1:50 pm today, 40 minutes ago." in text  # its time, always
    assert "utter_latest_update" in [r.response for r in fitted.later]
    assert "utter_latest_update" not in [r.response for r in fitted.shown]


def test_emergency_advice_comes_first_and_is_never_cut_for_length(responses: dict[str, Any], ctx: Context) -> None:
    advice = "Call 111 now. " * 60
    replies = [Reply("utter_emergency_help", {"emergency": advice}), *service_answer(ctx, "roaming")]
    fitted = fit_web(responses, [*replies, Reply("utter_offer_escalation")])
    assert fitted.bubbles[0].text == advice and fitted.bubbles[0].parts == ["utter_emergency_help"]
    assert "Roaming: not working right now" in fitted.bubbles[1].text  # the state, past the limit too
    assert fitted.bubbles[-1].parts == ["utter_offer_escalation"] and len(fitted.bubbles) == WEB_BUBBLES
    assert [b["title"] for b in fitted.bubbles[-1].buttons] == ["Yes, please", "No, thanks"]


def test_the_summary_says_what_still_works_unless_an_offer_needs_the_room(
    responses: dict[str, Any], ctx: Context, knowledge: Knowledge
) -> None:
    plain = fit_web(responses, outage_summary(ctx))
    assert "✅ Working: Xtra Mail (email), Voicemail" in web_text(plain)
    urgent = fit_web(responses, with_urgency(outage_summary(ctx), Urgency.TIME_CRITICAL, knowledge))
    assert "✅ Working" not in web_text(urgent) and "🔴 Not working: Prepaid top-up" in web_text(urgent)
    assert "utter_summary_working" in [r.response for r in urgent.later]  # on "more"
    assert urgent.bubbles[-1].parts == ["utter_offer_escalation"]
