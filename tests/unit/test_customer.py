import orjson
import pytest

from handlers.customer import Outputs, advance, apply, snapshot
from handlers.state import CustomerState

from .builders import CONFIG, at, config_with, fold_all, interaction, nps, purchase, ticket


def test_duplicate_event_id_is_ignored_and_state_untouched():
    state = fold_all([nps(9, 0, event_id="same")])
    before = state.to_bytes()
    assert apply(state, nps(0, 1, event_id="same"), CONFIG) is False
    assert state.to_bytes() == before


def test_duplicate_horizon_is_bounded_but_keeps_recent_ids():
    cfg = config_with(time={"dedupe_max_ids": 5, "allowed_lateness_hours": 6})
    state = CustomerState.new("c1")
    for i in range(20):
        apply(state, interaction(day=i, event_id=f"i{i}"), cfg)
    assert len(state.seen) <= 5
    assert apply(state, interaction(day=19, event_id="i19"), cfg) is False  # newest ids remembered
    assert apply(state, interaction(day=0, event_id="i0"), cfg) is True     # beyond the horizon


def test_advance_is_idempotent_and_catch_up_equals_day_by_day():
    events = [nps(2, 0), ticket("t1", day=1), ticket("t2", day=2), ticket("t3", day=3), purchase(10, day=4)]
    lazy, daily = fold_all(events), fold_all(events)
    caught_up = advance(lazy, at(20), CONFIG)
    assert advance(lazy, at(20), CONFIG) == Outputs()
    stepwise = Outputs()
    for d in range(0, 21):
        o = advance(daily, at(d, 7), CONFIG)
        stepwise.alerts += o.alerts
        stepwise.health_changes += o.health_changes
    o = advance(daily, at(20), CONFIG)
    stepwise.alerts += o.alerts
    stepwise.health_changes += o.health_changes
    assert caught_up == stepwise and caught_up.alerts
    assert lazy.to_bytes() == daily.to_bytes()


def test_employee_surveys_never_change_customer_nps():
    state = fold_all([nps(9, 0), nps(0, 1, respondent="employee"), nps(1, 1, respondent="employee")])
    m = snapshot(state, at(2), CONFIG)["metrics"]
    assert (m["nps"], m["nps_responses"], m["detractors"]) == (100.0, 1, 0)


def test_late_event_marked_when_its_day_is_closed():
    state = fold_all([nps(9, 5)])
    advance(state, at(10, 3), CONFIG)  # watermark - 6h lateness = day 9, 21:00: day 8 is the last closed
    assert state.cursor == at(8) // 86_400_000
    apply(state, nps(8, 9), CONFIG)   # day 9 not closed yet: on time
    apply(state, nps(8, 3), CONFIG)   # day 3 closed: late
    assert state.late == 1


def test_snapshot_is_json_and_same_within_a_utc_day():
    state = fold_all([nps(3, 0), purchase(10, day=1), ticket("t", day=2), interaction(day=3)])
    advance(state, at(10), CONFIG)
    morning, evening = snapshot(state, at(12, 1), CONFIG), snapshot(state, at(12, 23), CONFIG)
    assert orjson.loads(orjson.dumps(morning)) == morning  # no NaN, no tuples lost
    assert {**morning, "as_of": None} == {**evening, "as_of": None}
    assert morning["health"]["band"] in ("green", "yellow", "red")
    for key in ("nps", "nps_interval", "csat", "ces", "purchases", "revenue", "clv", "predicted_clv", "open_tickets",
                "contacts_inbound", "contact_deviation", "negative_mentions", "mention_spike", "referrals", "champion",
                "activated", "cancelled", "silence_days", "late_events", "segment", "plan", "owner"):
        assert key in morning["metrics"]


def test_applied_offsets_survive_serialisation():
    state = CustomerState.new("c1")
    state.applied_offsets["cs.surveys:3"] = 42
    assert CustomerState.from_bytes(state.to_bytes()).applied_offsets == {"cs.surveys:3": 42}


def test_state_memory_is_bounded_by_the_horizon():
    state = CustomerState.new("c1")
    for d in range(0, 600, 3):
        apply(state, interaction(day=d), CONFIG)
        advance(state, at(d), CONFIG)
    horizon = CONFIG.horizon_days()
    assert len(state.contacts) <= horizon // 3 + 2 and len(state.activity) <= horizon // 3 + 2


def test_from_bytes_rejects_unknown_format():
    with pytest.raises(ValueError):
        CustomerState.from_bytes(b'{"f": 99}')
