import json

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from handlers.events import (DECODE_REASONS, EVENT_KINDS, MAX_CLOCK_SKEW_MS, MAX_EVENT_BYTES, Account, DecodeError,
                             Mention, Purchase, ReferralCredit, Survey, check_clock, decode, encode,
                             is_employee_survey, kind_of_topic, valid_customer_id)
from handlers.timeutil import parse_ts

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


# Hand-worked: 1998-06-30 is day 10,407 since 1970-01-01; 10,407 x 86,400 s + 12 h = 899,208,000 s.
@pytest.mark.parametrize("ts, ms", [
    ("1998-06-30T12:00:00+00:00", 899_208_000_000), ("1998-06-30T14:30:00+02:30", 899_208_000_000),
    ("19980630T120000Z", 899_208_000_000), ("19980630T1400+02", 899_208_000_000),
    ("1998-06-30 12:00:00,5z", 899_208_000_500), ("1998-06-30t12:00:00.123456789Z", 899_208_000_123),
    ("1970-01-01T00:00:00Z", 0), ("1969-12-31T23:00:00-02:00", 3_600_000),
    ("9999-12-31T23:59:59.999Z", 253_402_300_799_999), ("1998-06-30T12:00Z", 899_208_000_000),
])
def test_any_iso_instant_from_1970_on(ts, ms):
    assert parse_ts(ts) == ms


@pytest.mark.parametrize("ts, says", [
    ("1998-06-30T12:00:00", "has no UTC offset"), ("19980630T120000", "has no UTC offset"),
    ("1970-01-01T00:30:00+01:00", "is before 1970-01-01T00:00:00Z"), ("1969-06-01T00:00:00Z", "is before 1970"),
    ("1998-02-29T00:00:00Z", "no such calendar date"), ("1998-06-30T12:00:00Z\n", "not an ISO-8601 date-time"),
    ("\u0661\u0669\u0669\u0668-06-30T12:00Z", "not an ISO-8601 date-time"),  # Arabic-Indic digits: ASCII only
    (899_208_000, "before 1971-01-01: epoch seconds?"), (1_714_521_600_000_000, "not before 2100-01-01: epoch microseconds?"),
    (True, "not True"), (None, "not NoneType"),
])
def test_each_refused_timestamp_says_which_check_failed(ts, says):
    with pytest.raises(ValueError) as err:
        parse_ts(ts)
    assert says in str(err.value)


def test_integer_range_is_a_plausibility_check_not_a_calendar_limit():
    assert parse_ts(31_536_000_000) == 31_536_000_000  # 1971-01-01 in ms: the first plausible integer
    assert parse_ts(4_102_444_799_999) == 4_102_444_799_999
    for bad in (31_535_999_999, 4_102_444_800_000):
        with pytest.raises(ValueError):
            parse_ts(bad)


def test_event_too_far_ahead_of_the_clock_is_its_own_reason():
    now = T0
    line = lambda ts: dumps(**{**BASE, "occurred_at": ts}, **VALID["interaction"])
    at_limit = decode(line(now + MAX_CLOCK_SKEW_MS), "interaction", now_ms=now)
    assert at_limit.occurred_at_ms == now + 3_600_000  # exactly one hour ahead: still accepted
    err = decode(line(now + MAX_CLOCK_SKEW_MS + 1), "interaction", now_ms=now)
    assert (err.reason, err.field) == ("future_event", "occurred_at") and "future_event" in DECODE_REASONS
    assert err.message == ("field 'occurred_at': 2024-05-01T01:00:00.001Z is 3600.001 s ahead of the clock "
                           "(2024-05-01T00:00:00.000Z); the limit is 3600 s of clock skew")
    far = decode(line("2099-01-01T00:00:00Z"), "interaction", now_ms=now, max_skew_ms=0)
    assert far.reason == "future_event" and "27273.0 days ahead" in far.message and "limit is 0 s" in far.message
    # No clock given: no check (the domain never reads the wall clock); a wider limit lets it through.
    assert decode(line("2099-01-01T00:00:00Z"), "interaction").customer_id == "c1"
    assert decode(line(now + 7_200_000), "interaction", now_ms=now, max_skew_ms=7_200_000).customer_id == "c1"
    assert check_clock(decode(line(now), "interaction"), now) is None
    assert decode(line(now + 7_200_000), "interaction", now_ms=now + 0.5).reason == "future_event"  # a float clock


def test_only_occurred_at_is_checked_against_the_clock():
    # A cancellation that takes effect at the renewal date lies ahead by design.
    ok = decode(dumps(**BASE, cancelled_at="2030-01-01T00:00:00Z"), "account", now_ms=T0)
    assert isinstance(ok, Account) and ok.cancelled_at == parse_ts("2030-01-01T00:00:00Z")


@pytest.mark.parametrize("field", ["customer_id", "event_id", "ticket_id"])
@pytest.mark.parametrize("value, code, pos", [("\x00watermark:7", "U+0000", 0), ("c\x1f1", "U+001F", 1),
                                               ("c1\x7f", "U+007F", 2), ("c1\n", "U+000A", 2)])
def test_ids_with_control_characters_are_refused(field, value, code, pos):
    err = decode(dumps(**{**BASE, **VALID["ticket"], field: value}), "ticket")
    assert (err.reason, err.field) == ("invalid_field", field)
    assert f"control character {code} at position {pos}" in err.message


def test_valid_customer_id_matches_the_contract():
    for good in ("c1", "x" * 256, "Ünïcødé 客户 #7", "a b\u00a0c"):
        assert valid_customer_id(good)
        assert decode(dumps(**{**BASE, "customer_id": good}, **VALID["interaction"]), "interaction").customer_id == good
    for bad in ("", "x" * 257, "\x00watermark:7", "a\tb", "\x7f", "\ud800", None, b"c1", 7):
        assert not valid_customer_id(bad)


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
