"""Property tests: ranges, order independence, duplicates, serialisation, exact tick skipping."""
import random

import orjson
from hypothesis import HealthCheck, given, settings, strategies as st

from handlers import ticks
from handlers.customer import Outputs, advance, apply, derived_events, snapshot
from handlers.events import decode, is_employee_survey
from handlers.metrics.nps import interval, nps_value
from handlers.replay import replay
from handlers.state import CustomerState

from .builders import CONFIG, at
from .strategies import event_lines

PROPS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AS_OF = at(70)


def dump(result) -> bytes:
    return orjson.dumps({"snapshots": result.snapshots, "alerts": result.alerts, "summary": result.summary})


@given(st.lists(st.integers(0, 10), min_size=1, max_size=200))
def test_nps_and_its_interval_stay_in_range(scores):
    p, d = sum(s >= 9 for s in scores), sum(s <= 6 for s in scores)
    value = nps_value(p, d, len(scores))
    low, high = interval(p, d, len(scores))
    assert -100 <= value <= 100 and -100 <= low <= high <= 100


@PROPS
@given(event_lines(), st.randoms(use_true_random=False))
def test_replay_is_a_function_of_the_set_of_lines(lines, rnd):
    shuffled = lines[:]
    rnd.shuffle(shuffled)
    assert dump(replay(lines, CONFIG, AS_OF)) == dump(replay(shuffled, CONFIG, AS_OF))


def _stream(lines, jitter_seed: int):
    """Streaming-style: arrival order perturbed by less than the allowed lateness, watermark = max seen."""
    rnd = random.Random(jitter_seed)
    events = [decode(line) for line in lines]
    arrival = sorted(events, key=lambda e: (e.occurred_at_ms + rnd.randrange(CONFIG.time.lateness_ms), e.event_id))
    states, out, wm = {}, Outputs(), 0

    def fold(e):
        st_ = states.setdefault(e.customer_id, CustomerState.new(e.customer_id))
        o = advance(st_, wm, CONFIG)
        out.alerts.extend(o.alerts)
        out.health_changes.extend(o.health_changes)
        return apply(st_, e, CONFIG)

    for e in arrival:
        wm = max(wm, e.occurred_at_ms)
        if is_employee_survey(e):
            continue  # counted company-wide by the stream, no customer state
        if fold(e):
            for d in derived_events(e):
                fold(d)
    for cid in sorted(states):
        o = advance(states[cid], AS_OF, CONFIG)
        out.alerts.extend(o.alerts)
        out.health_changes.extend(o.health_changes)
    key = lambda a: orjson.dumps(a, option=orjson.OPT_SORT_KEYS)
    return (sorted(map(key, out.alerts)), sorted(map(key, out.health_changes)),
            [key(snapshot(states[c], AS_OF, CONFIG)) for c in sorted(states)], sum(s.late for s in states.values()))


@PROPS
@given(event_lines(), st.integers(0, 10_000))
def test_stream_arrival_order_within_lateness_does_not_change_outputs(lines, seed):
    alerts, changes, snaps, late = _stream(lines, seed)
    assert late == 0  # every event came within the allowed lateness
    ref = replay(lines, CONFIG, AS_OF)  # event-time order
    key = lambda a: orjson.dumps(a, option=orjson.OPT_SORT_KEYS)
    assert alerts == sorted(map(key, ref.alerts))
    assert snaps == [key(s) for s in ref.snapshots]
    assert len(changes) == ref.health_changes


@PROPS
@given(event_lines(), st.integers(0, 39))
def test_folding_a_duplicate_changes_nothing(lines, pick):
    events = [decode(line) for line in lines]
    state = CustomerState.new("c1")
    for e in events:
        apply(state, e, CONFIG)
    advance(state, at(30), CONFIG)
    before = state.to_bytes()
    assert apply(state, events[pick % len(events)], CONFIG) is False
    assert state.to_bytes() == before


@PROPS
@given(event_lines())
def test_state_round_trips_through_bytes(lines):
    state = CustomerState.new("c1")
    for i, line in enumerate(lines):
        apply(state, decode(line), CONFIG)
        if i % 7 == 0:
            advance(state, decode(line).occurred_at_ms, CONFIG)
    copy = CustomerState.from_bytes(state.to_bytes())
    assert copy.to_bytes() == state.to_bytes()
    assert snapshot(copy, AS_OF, CONFIG) == snapshot(state, AS_OF, CONFIG)
    # and evaluation continues identically from the copy
    assert advance(copy, AS_OF, CONFIG) == advance(state, AS_OF, CONFIG)


@PROPS
@given(event_lines())
def test_skipping_quiet_ticks_is_exact(lines):
    fast = dump(replay(lines, CONFIG, AS_OF))
    original = ticks.quiet_until
    ticks.quiet_until = lambda state, day, *a, **k: day  # evaluate every daily tick
    try:
        slow = dump(replay(lines, CONFIG, AS_OF))
    finally:
        ticks.quiet_until = original
    assert fast == slow


def test_typical_state_is_compact():
    lines = [orjson.dumps({"topic": t, "event_id": f"e{i}", "customer_id": "c1", "occurred_at": at(i * 9), **f})
             for i, (t, f) in enumerate([
                 ("account", {"segment": "smb", "owner": "ann", "signed_up_at": at(0)}),
                 ("interaction", {"direction": "inbound", "channel": "email"}),
                 ("survey", {"kind": "nps", "score": 8}), ("ticket", {"ticket_id": "t1", "status": "opened",
                                                                      "category": "billing", "priority": "low"}),
                 ("purchase", {"amount": 10.0, "currency": "EUR", "kind": "new", "contract_value": 100.0}),
                 ("interaction", {"direction": "outbound", "channel": "call"}),
                 ("mention", {"source": "x", "sentiment": 0.4}), ("survey", {"kind": "csat", "score": 4}),
                 ("ticket", {"ticket_id": "t1", "status": "closed", "category": "billing", "priority": "low"}),
                 ("interaction", {"direction": "inbound", "channel": "chat"})])]
    result = replay(lines, CONFIG, at(95))
    assert len(result.states["c1"].to_bytes()) < 2048
