"""Issue 14's answers through the real Rasa server, action server and SQLite, over the REST channel:
every service a message names, "fixed but not for me", no repeated updates, one offer of a
person, grammar from the knowledge file, and overdue updates said openly."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.core.clock import utcnow
from bot.db.engine import make_session_factory
from bot.db.models import Incident, RestoreReport
from bot.incidents.writes import post_update
from tests.e2e.conftest import Assistant

pytestmark = pytest.mark.e2e
TOP_UP_UPDATE = "Teams are still working to restore top-ups"


def sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


# First messages a customer sends on the demo outage: each service, several at once, the
# whole outage, urgent ones (safety, time-critical) and the questions around it.
FIRST_MESSAGES = [
    "I can't top up my phone",
    "flying to Sydney tonight, how do I turn on roaming",
    "how do I divert my landline 09 123 4567 to my mobile 021 555 0199",
    "my voicemail isn't playing messages",
    "is email working?",
    "can't get into my account online",
    "can I pay my bill?",
    "can I buy a phone in store today?",
    "is my broadband affected?",
    "what's down right now?",
    "when will it be fixed?",
    "was this a hack?",
    "can't top up and can't log into my account either",
    "roaming, top-ups and my account login are all broken",
    "my dad's medical alarm uses this landline and call diversion won't work",
    "job interview by phone in an hour and I can't divert my calls",
    "will I get compensation? I missed a job interview because of this",
]


@pytest.mark.parametrize("message", FIRST_MESSAGES)
def test_a_first_answer_is_at_most_three_messages_and_600_characters(demo_assistant: Assistant, message: str) -> None:
    replies = demo_assistant.messages(sender(), message)
    texts = [str(r.get("text") or "") for r in replies]
    assert 0 < len(replies) <= 3 and sum(map(len, texts)) <= 600, texts


def test_more_sends_the_rest_of_the_first_answer(demo_assistant: Assistant) -> None:
    me = sender()
    first = demo_assistant.say(me, "flying to Sydney tonight, how do I turn on roaming")
    assert "Wi-Fi calling" not in first and "[More details]" in first, first
    rest = demo_assistant.say(me, "more")
    assert "Wi-Fi calling" in rest and "local SIM or eSIM" in rest, rest


def test_a_message_naming_two_services_gets_both_and_the_update_once(demo_assistant: Assistant) -> None:
    me = sender()
    reply = demo_assistant.say(me, "can't top up and can't log into my account either")
    assert "Prepaid top-up: not working right now" in reply, reply
    assert "Website and app login (My Account): not working right now" in reply, reply
    assert "auto-renew" in reply and "nothing you need to change" in reply, reply  # each one's best step
    reply += demo_assistant.say(me, "more")
    assert reply.count(TOP_UP_UPDATE) == 1, reply  # the update's words, once


def test_follow_ups_keep_their_topic_and_say_what_changed(demo_assistant: Assistant) -> None:
    me = sender()
    assert "auto-renew" in demo_assistant.say(me, "I can't top up my phone")
    again = demo_assistant.say(me, "tried that, still the same")
    assert again.startswith("It's not just you: Prepaid top-up is still affected by the outage"), again
    assert "No change since the update of" in again and TOP_UP_UPDATE not in again, again
    assert "Voucher cards" in again and "auto-renew" not in again, again  # the next step, not the one tried
    now = demo_assistant.say(me, "what about now?")
    assert now.startswith("Prepaid top-up: not working right now") and "No change since the update of" in now, now
    assert "Ka kite" not in now and "Confirmed to work" not in now, now
    with make_session_factory(demo_assistant.engine).begin() as session:
        incident = session.scalars(select(Incident)).one()
        post_update(session, incident.id, message="Top-ups work again for some customers.", now=utcnow(), actor="test")
    news = demo_assistant.say(me, "and now?")
    assert "Top-ups work again for some customers." in news, news
    other = demo_assistant.say(me, "what about roaming?")
    assert other.startswith("Roaming: not working right now"), other
    assert "Wi-Fi calling" in demo_assistant.say(me, "didn't work")  # roaming's next step


def test_fixed_but_not_for_me_gets_troubleshooting_a_person_and_is_counted(demo_assistant: Assistant) -> None:
    me = sender()
    reply = demo_assistant.say(me, "my voicemail still doesn't work even though you say it's fixed")
    assert "Voicemail is working again for most customers" in reply, reply
    assert "Restart your phone" in reply and "would you like me to pass this to a person" in reply, reply
    with make_session_factory(demo_assistant.engine)() as session:
        reports = session.scalars(select(RestoreReport).where(RestoreReport.conversation_id == me)).all()
    assert [(r.service_key, r.channel) for r in reports] == [("voicemail", "rest")]
    reply = demo_assistant.say(me, "yes please")
    assert "I'll pass this to a person" in reply, reply


@pytest.mark.parametrize("said", ["my mobile is still not working", "still no signal on my mobile"])
def test_still_not_working_about_a_service_never_down_is_no_failed_fix(demo_assistant: Assistant, said: str) -> None:
    """Mobile was never affected: no "working again", its own troubleshooting, and no report."""
    me = sender()
    reply = demo_assistant.say(me, said)
    assert "working again" not in reply, reply
    assert "restart your phone" in reply.lower(), reply
    with make_session_factory(demo_assistant.engine)() as session:
        assert session.scalars(select(RestoreReport).where(RestoreReport.conversation_id == me)).all() == []


def test_a_diversion_code_goes_to_the_destination_never_the_source(demo_assistant: Assistant) -> None:
    reply = demo_assistant.say(sender(), "how do I divert my landline 09 123 4567 to my mobile 021 555 0199")
    assert "**21*0215550199#" in reply and "091234567" not in reply, reply
    reply = demo_assistant.say(sender(), "my number is 09 123 4567, how do I divert my calls")
    assert "**21*<number>#" in reply and "091234567" not in reply, reply
    assert "the number calls should go to" in reply, reply


def test_three_questions_quote_the_official_update_once(demo_assistant: Assistant) -> None:
    me = sender()
    replies = [
        demo_assistant.say(me, "I can't top up my phone"),
        demo_assistant.say(me, "what about roaming?"),
        demo_assistant.say(me, "and call diversion?"),
    ]
    assert sum(r.count(TOP_UP_UPDATE) for r in replies) == 1, replies
    assert "No change since the update of" in replies[1] and "No change since the update of" in replies[2], replies


def test_no_reply_offers_a_person_twice(demo_assistant: Assistant) -> None:
    reply = demo_assistant.say(sender(), "will I get compensation? I missed a job interview because of this")
    offers = reply.count("Would you like me to pass") + reply.count("would you like me to pass")
    assert offers == 1, reply


def test_plural_service_names_read_right(demo_assistant: Assistant) -> None:
    assert "Bill payments: only partly working" in demo_assistant.say(sender(), "can I pay my bill?")


def test_an_overdue_update_is_called_out_to_customers(demo_assistant: Assistant) -> None:
    sessions = make_session_factory(demo_assistant.engine)
    with sessions.begin() as session:
        incident = session.scalars(select(Incident)).one()
        # The promised time passes with no update (set directly: the API refuses a time in the past).
        incident.next_update_at = utcnow() - timedelta(minutes=25)
    try:
        reply = demo_assistant.say(sender(), "when will roaming be fixed?")
        assert "is overdue; the latest is from" in reply, reply
        assert "25 minutes ago" in reply, reply
    finally:
        demo_assistant.reload_demo()
