import json

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from handlers.events import (DECODE_REASONS, EVENT_KINDS, MAX_EVENT_BYTES, Account, DecodeError, Mention, Purchase,
                             ReferralCredit, Survey, decode, encode, is_employee_survey, kind_of_topic)

from .builders import T0, raw

BASE = {"event_id": "e1", "customer_id": "c1", "occurred_at": T0}
VALID = {
    "purchase": {"amount": 10, "currency": "EUR", "kind": "new"},
    "survey": {"kind": "nps", "score": 9},
    "ticket": {"ticket_id": "t1", "status": "opened", "category": "billing", "priority": "high"},
    "mention": {"source": "twitter", "sentiment": -0.5},
    "interaction": {"direction": "inbound", "channel": "call"},
    "account": {"segment": "smb", "owner": "ann"},
}


def dumps(**fields) -> bytes:
    return orjson.dumps(fields)


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_each_kind_decodes_with_common_fields(kind):
    event = decode(dumps(**BASE, **VALID[kind]), kind)
    assert not isinstance(event, DecodeError), event
    assert (event.kind, event.event_id, event.customer_id, event.occurred_at_ms) == (kind, "e1", "c1", T0)


def test_kind_from_topic_field_and_topic_names():
    assert decode(raw("cs.purchases", amount=1, currency="EUR", kind="refund")).purchase_kind == "refund"
    assert decode(raw("survey", kind="ces", score=7)).score == 7
    assert kind_of_topic("cs.tickets") == "ticket" and kind_of_topic("cs.ticket") == "ticket"
    assert kind_of_topic("cs.nope") is None and kind_of_topic(3) is None


@pytest.mark.parametrize("ts, ms", [
    ("2024-05-01T00:00:00Z", T0), ("2024-05-01T02:00:00+02:00", T0), ("2024-05-01T00:00:00.250Z", T0 + 250),
    ("2024-04-30T19:00:00-0500", T0), (T0, T0), (float(T0), T0),
])
def test_timestamps_iso_with_offset_or_epoch_ms(ts, ms):
    assert decode(dumps(**{**BASE, "occurred_at": ts}, **VALID["interaction"]), "interaction").occurred_at_ms == ms


@pytest.mark.parametrize("ts", ["2024-05-01T00:00:00", "2024-05-01", "yesterday", 1714521600, True, None,
                                "2024-02-30T00:00:00Z", T0 + 0.5])
def test_bad_timestamps_are_invalid_field(ts):
    err = decode(dumps(**{**BASE, "occurred_at": ts}, **VALID["interaction"]), "interaction")
    assert isinstance(err, DecodeError) and (err.reason, err.field) == ("invalid_field", "occurred_at")
    assert "occurred_at" in err.message


@pytest.mark.parametrize("raw_bytes, kind, reason, field", [
    (b"x" * (MAX_EVENT_BYTES + 1), "ticket", "too_large", None),
    (b"{not json", "ticket", "not_json", None),
    (b"\xff\xfe", "ticket", "not_json", None),
    (b"[1, 2]", "ticket", "not_object", None),
    (b'"text"', None, "not_object", None),
    (b"{}", "order", "unknown_kind", None),
    (b'{"event_id": "e"}', None, "missing_field", "topic"),
    (b'{"topic": "cs.orders"}', None, "unknown_kind", "topic"),
])
def test_envelope_errors(raw_bytes, kind, reason, field):
    err = decode(raw_bytes, kind)
    assert isinstance(err, DecodeError) and err.reason == reason and err.field == field and err.message


@pytest.mark.parametrize("kind, change, reason, field", [
    ("purchase", {"amount": -1}, "invalid_field", "amount"),
    ("purchase", {"currency": "euro"}, "invalid_field", "currency"),
    ("purchase", {"kind": "gift"}, "invalid_field", "kind"),
    ("purchase", {"amount": None}, "invalid_field", "amount"),
    ("survey", {"score": 11}, "invalid_field", "score"),
    ("survey", {"kind": "csat", "score": 0}, "invalid_field", "score"),
    ("survey", {"kind": "ces", "score": 8}, "invalid_field", "score"),
    ("survey", {"score": "9"}, "invalid_field", "score"),
    ("survey", {"score": 9.5}, "invalid_field", "score"),
    ("survey", {"respondent": "bot"}, "invalid_field", "respondent"),
    ("ticket", {"status": "pending"}, "invalid_field", "status"),
    ("ticket", {"category": ""}, "invalid_field", "category"),
    ("mention", {"sentiment": 1.5}, "invalid_field", "sentiment"),
    ("interaction", {"channel": "fax"}, "invalid_field", "channel"),
    ("account", {"signed_up_at": "soon"}, "invalid_field", "signed_up_at"),
])
def test_field_errors_name_field_and_reason(kind, change, reason, field):
    err = decode(dumps(**BASE, **{**VALID[kind], **change}), kind)
    assert isinstance(err, DecodeError), err
    assert (err.reason, err.field) == (reason, field)
    assert f"'{field}'" in err.message


@pytest.mark.parametrize("kind, drop", [("ticket", "ticket_id"), ("purchase", "currency"), ("survey", "score"),
                                        ("interaction", "direction")])
def test_missing_fields(kind, drop):
    fields = {**BASE, **VALID[kind]}
    del fields[drop]
    err = decode(dumps(**fields), kind)
    assert (err.reason, err.field) == ("missing_field", drop) and "required" in err.message


@pytest.mark.parametrize("drop", ["event_id", "customer_id", "occurred_at"])
def test_missing_common_fields(drop):
    fields = {**BASE, **VALID["interaction"]}
    del fields[drop]
    assert (decode(dumps(**fields), "interaction").field) == drop


def test_mention_needs_sentiment_or_text():
    err = decode(dumps(**BASE, source="x"), "mention")
    assert (err.reason, err.field) == ("missing_field", "text")
    ok = decode(dumps(**BASE, source="x", text="great product"), "mention")
    assert isinstance(ok, Mention) and ok.sentiment is None


def test_extra_fields_ignored_and_events_frozen():
    event = decode(dumps(**BASE, **VALID["purchase"], surprise={"a": 1}), "purchase")
    assert isinstance(event, Purchase) and not hasattr(event, "surprise")
    with pytest.raises(Exception):
        event.amount = 3


def test_account_null_means_clear_and_absent_means_keep():
    event = decode(dumps(**BASE, owner=None), "account")
    assert isinstance(event, Account) and "owner" in event.model_fields_set and "segment" not in event.model_fields_set


def test_encode_round_trips_including_derived():
    credit = ReferralCredit(event_id="p1:referral", customer_id="c2", occurred_at_ms=T0, referred_customer_id="c1",
                            source_event_id="p1")
    for event in (decode(dumps(**BASE, **VALID["survey"]), "survey"), credit):
        assert decode(encode(event)) == event


def test_employee_survey_flag():
    emp = decode(dumps(**BASE, kind="nps", score=3, respondent="employee"), "survey")
    cust = decode(dumps(**BASE, kind="nps", score=3), "survey")
    assert isinstance(emp, Survey) and is_employee_survey(emp) and not is_employee_survey(cust)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([None, *EVENT_KINDS, "bogus"]))
def test_decode_never_raises_on_arbitrary_bytes(data, kind):
    out = decode(data, kind)
    assert isinstance(out, DecodeError) and out.reason in DECODE_REASONS


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                           max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["event_id", "customer_id", "occurred_at", "topic", "kind", "score", "amount",
                                        "currency", "status", "sentiment", "text", "source"]), json_values, max_size=8))
def test_decode_never_raises_on_arbitrary_objects(obj):
    out = decode(json.dumps(obj).encode())
    assert isinstance(out, DecodeError) or out.kind in (*EVENT_KINDS, "referral_credit")
