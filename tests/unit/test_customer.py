import orjson
import pytest

from handlers import customer
from handlers.customer import Outputs, advance, apply, change_id, id_hash, snapshot
from handlers.events import Mention
from handlers.metrics import tickets
from handlers.state import CustomerState
from handlers.timeutil import parse_ts

from .builders import CONFIG, D0, at, config_with, fold_all, interaction, nps, purchase, ticket


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


# ---- duplicate memory, hot customers -------------------------------------------------

def _mentions(n: int, start_ms: int, span_ms: int, prefix: str = "m", customer: str = "hot") -> list[Mention]:
    """n mentions spread evenly over span_ms; model_construct: a storm's worth without validating each."""
    return [Mention.model_construct(event_id=f"{prefix}{i}", customer_id=customer, occurred_at_ms=start_ms + i * span_ms // n,
                                    source="x", sentiment=-0.9) for i in range(n)]


def test_duplicate_memory_is_capped_newest_first(monkeypatch):
    monkeypatch.setattr(customer, "DEDUPE_CAP_IDS", 3)
    cfg = config_with(time={"dedupe_max_ids": 2, "allowed_lateness_hours": 6})
    state = CustomerState.new("c1")
    # Five events a minute apart, all within the 12 h horizon: the cap keeps the newest three.
    events = [interaction(day=0, event_id=f"i{i}") for i in range(5)]
    events = [e.model_copy(update={"occurred_at_ms": at(0) + i * 60_000}) for i, e in enumerate(events)]
    for e in reversed(events):  # arrival order does not matter: newest first here
        assert apply(state, e, cfg) is True
    assert len(state.seen) == 3
    assert [apply(state, e, cfg) for e in events[2:]] == [False, False, False]  # remembered: duplicates
    assert apply(state, events[0], cfg) is True  # forgotten by the cap: counts again (documented)
    assert state.events == 6


def test_within_a_minute_the_smaller_id_hash_goes_first(monkeypatch):
    monkeypatch.setattr(customer, "DEDUPE_CAP_IDS", 1)
    cfg = config_with(time={"dedupe_max_ids": 1})
    a, b = interaction(day=0, event_id="a"), interaction(day=0, event_id="b")  # same instant
    kept, dropped = (a, b) if id_hash("a") > id_hash("b") else (b, a)
    for order in ((a, b), (b, a)):
        state = CustomerState.new("c1")
        for e in order:
            apply(state, e, cfg)
        assert id_hash(kept.event_id) in state.seen and id_hash(dropped.event_id) not in state.seen


def test_a_social_storm_keeps_the_state_under_1_mib_without_per_event_growth():
    # 150,000 mentions in six hours: past DEDUPE_CAP_IDS ids nothing in the state grows with
    # the events (mention buckets are per day, the id memory holds the cap's ids in at most
    # one row per minute). Folding the cap plus 1,000 fills every minute of the six hours;
    # 2,000 more in the same hours must not grow the state: the 150,000-event state has the
    # same shape (streams/bench/hot_customer.py folds all of them).
    cap, t0, six_hours = customer.DEDUPE_CAP_IDS, at(0, 0), 6 * 3_600_000
    state = CustomerState.new("hot")
    first = _mentions(cap + 1_000, t0, six_hours)
    for i, e in enumerate(first):
        apply(state, e, CONFIG)
        if i % 1_000 == 999:
            advance(state, e.occurred_at_ms, CONFIG)
    size = len(state.to_bytes())
    assert len(state.seen) == cap and len(state.seen.to_json()) <= 360  # at most one row per minute
    # 8 bytes an id, base64 (4/3), plus row overhead: ~350 KiB, well under the 1 MiB record limit.
    assert cap * 8 * 4 / 3 < size < 400_000
    for e in _mentions(2_000, t0 + 7, six_hours, prefix="n"):
        apply(state, e, CONFIG)
    advance(state, t0 + six_hours, CONFIG)
    assert len(state.seen) == cap and len(state.to_bytes()) - size < 3_000  # 2,000 events would add ~70 KiB
    assert snapshot(state, t0 + six_hours, CONFIG)["metrics"]["negative_mentions"] == cap + 3_000
    assert apply(state, first[-1], CONFIG) is False  # newest ids are remembered
    assert apply(state, first[0], CONFIG) is True    # the oldest went with the cap


def test_id_memory_rows_survive_bytes_and_old_format_is_read():
    state = CustomerState.new("hot")
    for e in _mentions(1_500, at(0), 3_600_000):  # grouped view (over 512 ids)
        apply(state, e, CONFIG)
    small = fold_all([nps(9, 0, event_id="x"), nps(3, 1, event_id="y")])
    for st in (state, small):
        copy = CustomerState.from_bytes(st.to_bytes())
        assert copy.to_bytes() == st.to_bytes() and set(copy.seen.ids) == set(st.seen.ids)
    doc = orjson.loads(small.to_bytes())
    doc["f"], doc["seen"] = 1, [[id_hash("x"), at(0)], [id_hash("y"), at(1)]]  # format 1: [[hash, ms], ...]
    old = CustomerState.from_bytes(orjson.dumps(doc))
    assert old.to_bytes() == small.to_bytes()
    assert apply(old, nps(9, 0, event_id="x"), CONFIG) is False


def test_a_ticket_storm_keeps_the_newest_tickets_between_ticks():
    n = tickets.MAX_TRACKED + 100
    storm = [ticket(f"t{i}", day=0.5 + i / (4 * n)) for i in range(n)]  # one day, never closed by a tick
    arrived = fold_all(storm)
    assert len(arrived.ticket_status) == tickets.MAX_TRACKED
    assert set(arrived.ticket_status) == {f"t{i}" for i in range(100, n)}  # the oldest 100 went
    assert fold_all(storm[::-1]).to_bytes() == arrived.to_bytes()  # whatever the arrival order


# ---- health-change ids -----------------------------------------------------------------

def test_change_id_is_stable_per_customer_day_and_config_version():
    d = D0 + 3
    assert change_id("c1", d, "2024.1") == change_id("c1", d, "2024.1") == "e9ffeedfecb829b8c9af5703"
    others = {change_id("c2", d, "2024.1"), change_id("c1", d + 1, "2024.1"), change_id("c1", d, "2024.2")}
    assert len(others) == 3 and change_id("c1", d, "2024.1") not in others


def test_every_health_change_carries_its_id_first():
    state = fold_all([nps(2, 0), ticket("t1", day=1), ticket("t2", day=2), ticket("t3", day=3), purchase(10, day=4)])
    changes = advance(state, at(20), CONFIG).health_changes
    assert changes
    for change in changes:
        day = int(parse_ts(change["occurred_at"])) // 86_400_000
        assert next(iter(change)) == "change_id"
        assert change["change_id"] == change_id("c1", day, CONFIG.version)


def test_a_long_silence_pages_the_same_caught_up_or_day_by_day():
    # The silence rule reads the rhythm in the baseline before the last active day (days 0, 60,
    # 120): advanced a day at a time, the cursor passes day 120 + the horizon long before the
    # silence crosses its threshold, and pruning must not have dropped what that rule reads.
    events = [interaction("inbound", "call", d) for d in (0, 60, 120)]
    lazy, daily = fold_all(events), fold_all(events)
    caught_up = advance(lazy, at(420), CONFIG)
    stepwise = Outputs()
    for d in range(120, 421):
        stepwise.alerts += advance(daily, at(d, 7), CONFIG).alerts
    stepwise.alerts += advance(daily, at(420), CONFIG).alerts
    silence = [(a["status"], a["occurred_at"][:10]) for a in caught_up.alerts if a["rule"] == "silence"]
    assert silence == [("firing", "2024-05-30"), ("resolved", "2024-06-30"),  # one active day: min_days
                       ("firing", "2025-02-26")]  # 2 gaps of 60 days: 12.8 x is past the cap, day 120 + 181
    assert stepwise.alerts == caught_up.alerts
    assert lazy.to_bytes() == daily.to_bytes()
