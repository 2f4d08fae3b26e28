"""Every generated event follows the DESIGN.md event contract."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime

from tests.simulator.simulator_support import instant

COMMON = {"topic", "event_id", "customer_id", "occurred_at"}
TOPICS = {"purchase", "survey", "ticket", "mention", "interaction", "account"}
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
CATEGORIES = {"billing", "bug", "onboarding", "how_to", "performance", "access"}
SEGMENTS = {"enterprise", "mid_market", "smb"}
OWNERS = {f"rep-{i:02d}" for i in range(1, 13)}
# required and allowed (required + optional) fields per topic
FIELDS = {
    "purchase": ({"amount", "currency", "kind"}, {"order_id", "referred_by", "contract_value"}),
    "survey": ({"kind", "score"}, {"comment", "touchpoint", "respondent"}),
    "ticket": ({"ticket_id", "status", "category", "priority"}, {"channel"}),
    "mention": ({"source", "sentiment"}, {"text", "reach"}),
    "interaction": ({"direction", "channel"}, set()),
    "account": ({"segment", "plan", "owner", "signed_up_at", "activated_at"}, {"cancelled_at"}),
}


def _check(ev: dict, start: float, end: float) -> None:
    topic = ev["topic"]
    assert COMMON <= ev.keys(), ev
    assert topic in TOPICS, ev
    required, optional = FIELDS[topic]
    assert required <= ev.keys(), ev
    assert ev.keys() <= COMMON | required | optional, ev
    assert isinstance(ev["event_id"], str) and ev["event_id"]
    assert isinstance(ev["customer_id"], str) and ev["customer_id"]
    assert start <= instant(ev["occurred_at"]) < end, ev
    if topic == "purchase":
        assert isinstance(ev["amount"], (int, float)) and ev["amount"] >= 0 and math.isfinite(ev["amount"])
        assert ev["currency"] == "EUR"
        assert ev["kind"] in {"new", "repeat", "renewal", "expansion", "contraction", "refund"}
        if "contract_value" in ev:
            assert ev["contract_value"] >= 0
        if "referred_by" in ev:
            assert ev["kind"] == "new" and ev["referred_by"] != ev["customer_id"]
    elif topic == "survey":
        lo, hi = SCALES[ev["kind"]]
        assert isinstance(ev["score"], int) and lo <= ev["score"] <= hi, ev
        assert ev.get("respondent", "customer") in {"customer", "employee"}
    elif topic == "ticket":
        assert ev["status"] in {"opened", "closed", "reopened"}
        assert ev["category"] in CATEGORIES
        assert ev["priority"] in {"low", "normal", "high", "urgent"}
    elif topic == "mention":
        assert ev["source"] in {"twitter", "reddit", "linkedin", "g2"}
        assert -1.0 <= ev["sentiment"] <= 1.0
        assert isinstance(ev["text"], str) and ev["text"]
        assert isinstance(ev["reach"], int) and ev["reach"] >= 0
    elif topic == "interaction":
        assert ev["direction"] in {"inbound", "outbound"}
        assert ev["channel"] in {"email", "call", "meeting", "chat"}
    elif topic == "account":
        assert ev["segment"] in SEGMENTS and ev["owner"] in OWNERS and ev["plan"]
        signed = instant(ev["signed_up_at"])
        if ev["activated_at"] is not None:
            assert signed <= instant(ev["activated_at"]) <= instant(ev["occurred_at"])
        if "cancelled_at" in ev:
            assert instant(ev["cancelled_at"]) == instant(ev["occurred_at"])


def test_every_event_follows_the_contract(events, sim_config):
    start = sim_config.start.timestamp()
    end = start + sim_config.days * 86400
    assert len(events) > 10_000
    for ev in events:
        _check(ev, start, end)
    assert {ev["topic"] for ev in events} == TOPICS


def test_sorted_by_time_then_event_id_and_ids_unique(events):
    keys = [(instant(ev["occurred_at"]), ev["event_id"]) for ev in events]
    assert keys == sorted(keys)
    assert len({ev["event_id"] for ev in events}) == len(events)


def test_both_timestamp_forms_mostly_iso(events):
    forms = Counter(type(ev["occurred_at"]).__name__ for ev in events)
    share_epoch = forms["int"] / len(events)
    assert forms.keys() == {"str", "int"}
    assert 0.07 < share_epoch < 0.13
    offsets = {datetime.fromisoformat(ev["occurred_at"]).utcoffset() for ev in events if isinstance(ev["occurred_at"], str)}
    assert len(offsets) > 1  # customers live in several time zones


def test_volume_near_configured_rate(events, sim_config):
    customer_events = sum(1 for ev in events if ev["customer_id"] != "employees")
    per_month = customer_events / sim_config.customers / (sim_config.days / 30.44)
    assert 9 <= per_month <= 16, per_month


def test_daily_rhythm_business_hours_and_weekdays(events):
    weekday = weekend = business = night = 0
    for ev in events:
        if ev["topic"] != "interaction" or not isinstance(ev["occurred_at"], str):
            continue
        local = datetime.fromisoformat(ev["occurred_at"])  # local wall time of the customer
        if local.weekday() < 5:
            weekday += 1
        else:
            weekend += 1
        if 9 <= local.hour < 17:
            business += 1
        elif local.hour < 6:
            night += 1
    assert weekday / 5 > 2.5 * weekend / 2
    assert business > 5 * night


def test_account_event_first_for_every_customer(by_customer, truth):
    for cid, row in truth.items():
        evs = by_customer[cid]
        assert evs[0]["topic"] == "account", cid
        assert evs[0]["segment"] == row["segment"] and evs[0]["owner"] == row["owner"]
        assert "cancelled_at" not in evs[0]


def test_employee_enps_surveys_present_and_flagged(events, truth):
    employee = [ev for ev in events if ev["customer_id"] == "employees"]
    assert len(employee) >= 8
    assert "employees" not in truth
    for ev in employee:
        assert ev["topic"] == "survey" and ev["kind"] == "nps" and ev["respondent"] == "employee"
    customers = [ev for ev in events if ev["topic"] == "survey" and ev["customer_id"] != "employees"]
    assert all(ev.get("respondent", "customer") == "customer" for ev in customers)
    assert len(employee) < 0.1 * (len(customers) + len(employee))


def test_survey_mix(events):
    kinds = Counter(ev["kind"] for ev in events if ev["topic"] == "survey" and ev["customer_id"] != "employees")
    assert kinds["nps"] > 0 and kinds["csat"] > kinds["ces"] > 0


def test_tickets_open_before_they_close(by_customer):
    for evs in by_customer.values():
        state: dict[str, str] = {}
        for ev in evs:
            if ev["topic"] != "ticket":
                continue
            prev = state.get(ev["ticket_id"])
            expected = {None: "opened", "opened": "closed", "closed": "reopened", "reopened": "closed"}[prev]
            assert ev["status"] == expected, ev
            state[ev["ticket_id"]] = ev["status"]
