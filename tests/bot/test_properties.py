"""Property tests (Hypothesis): for any input at all, the parsers and checks on a customer's,
operator's or status page's path either answer or raise our own error, never anything else."""

from __future__ import annotations

import contextlib
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core.errors import StatusPageError, ValidationError
from bot.incidents.statuspage.parse import parse_incident_list, parse_summary, parse_webhook
from bot.people.escalations import check_need, normalise_contact
from bot.people.urgency import answer_is_urgent
from bot.web.chat import sign, verify
from common.text import MAX_CONVERSATION_ID, conversation_id_problem, printable

PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any JSON document: what a broken or hostile status page could send.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)
# Statuspage-shaped documents with wrong types in the right places.
page_like = st.fixed_dictionaries(
    {},
    optional={
        "page": json_values,
        "components": st.lists(
            st.fixed_dictionaries({}, optional={"id": json_values, "name": json_values, "status": json_values})
        ),
        "incidents": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": json_values,
                    "name": json_values,
                    "status": json_values,
                    "created_at": json_values,
                    "started_at": json_values,
                    "incident_updates": st.lists(
                        st.fixed_dictionaries({}, optional={"body": json_values, "created_at": json_values})
                    ),
                    "components": json_values,
                },
            )
        ),
        "incident": json_values,
        "component": json_values,
        "component_update": json_values,
    },
)
anything = json_values | page_like


@PROPERTIES
@given(anything)
def test_statuspage_parsers_accept_or_refuse_with_their_own_error(data: object) -> None:
    for parse in (parse_summary, parse_incident_list, parse_webhook):
        with contextlib.suppress(StatusPageError):
            parse(data)


@PROPERTIES
@given(st.text())
@example("a\ud800b\x00\u202e\r\n")
def test_printable_keeps_no_control_surrogate_or_bidi_character(text: str) -> None:
    cleaned = printable(text)
    assert cleaned == cleaned.strip()
    assert all(unicodedata.category(ch) not in ("Cc", "Cs") or ch in "\n\t" for ch in cleaned)
    assert not any(0x202A <= ord(ch) <= 0x202E or 0x2066 <= ord(ch) <= 0x2069 for ch in cleaned)
    cleaned.encode("utf-8")  # storable in SQLite and PostgreSQL
    assert printable(cleaned) == cleaned  # cleaning twice changes nothing


@PROPERTIES
@given(st.text(max_size=200) | st.binary().map(lambda b: b.decode("latin-1")))
@example("\ud800")
@example("x" * (MAX_CONVERSATION_ID + 1))
def test_an_accepted_conversation_id_is_safe_everywhere(value: str) -> None:
    if conversation_id_problem(value) is not None:
        return
    assert 1 <= len(value) <= MAX_CONVERSATION_ID
    value.encode("ascii")  # no surrogate, no control character, nothing a URL path changes
    assert "/" not in value and "%" not in value and value == value.strip()


@PROPERTIES
@given(st.one_of(st.text(), json_values))
def test_contact_validation_accepts_only_phone_numbers_and_addresses(value: object) -> None:
    try:
        contact = normalise_contact(value)
    except ValidationError:
        return
    assert contact.isascii() and 7 <= len(contact) <= 254
    assert "@" in contact or contact.lstrip("+").isdigit()


@PROPERTIES
@given(st.one_of(st.text(), json_values))
def test_need_and_urgency_answers_never_crash(value: object) -> None:
    try:
        need = check_need(value)
        assert len(need) >= 3 and need == printable(need)
    except ValidationError:
        pass
    assert answer_is_urgent(value) in (True, False, None)


conversation_ids = st.from_regex(r"[A-Za-z0-9._~:@+-]{1,60}", fullmatch=True)
keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)


@PROPERTIES
@given(conversation=conversation_ids, key=keys, forged=st.text(max_size=300))
@example(conversation="web-1", key="k", forged="web-1.\u00e9\u00e9")
def test_chat_cookies_verify_only_what_we_signed(conversation: str, key: str, forged: str) -> None:
    assert verify(sign(conversation, key), key) == conversation
    assert verify(sign(conversation, key), key + "x") is None
    if forged != sign(conversation, key):
        assert verify(forged, key) is None


@pytest.mark.parametrize("value", ["web-abc_DEF-123", "+64211234567", "whatsapp:+64211234567", "1234567890"])
def test_every_channel_s_own_ids_are_accepted(value: str) -> None:
    assert conversation_id_problem(value) is None
