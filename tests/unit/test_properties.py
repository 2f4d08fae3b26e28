"""Property tests: ranges, order independence, duplicates, serialisation, exact tick skipping."""
import random

import orjson
from hypothesis import HealthCheck, given, settings, strategies as st

from handlers import ticks
from handlers.customer import Outputs, advance, apply, derived_events, snapshot
from handlers.events import (DECODE_REASONS, MAX_CLOCK_SKEW_MS, MODELS, DecodeError, decode, is_employee_survey,
                             valid_customer_id)
from handlers.metrics.nps import interval, nps_value
from handlers.replay import replay
from handlers.state import CustomerState, IdMemory

from .builders import CONFIG, T0, at
from .strategies import event_lines, mutated_line

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
    assert changes == sorted(map(key, ref.changes))  # the same records, change_id included
    assert len({orjson.loads(c)["change_id"] for c in changes}) == len(changes) == ref.health_changes


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


@settings(max_examples=500, deadline=None)
@given(st.one_of(mutated_line(), st.binary(max_size=200)), st.sampled_from([None, "survey", "ticket", "bogus"]),
       st.one_of(st.none(), st.integers(0, 2 ** 62)))
def test_decode_never_raises_and_says_event_or_known_reason(data, kind, now_ms):
    out = decode(data, kind, now_ms=now_ms)
    if isinstance(out, DecodeError):
        assert out.reason in DECODE_REASONS and isinstance(out.message, str) and out.message
        return
    assert type(out) is MODELS[out.kind]
    assert valid_customer_id(out.customer_id) and valid_customer_id(out.event_id)
    assert now_ms is None or out.occurred_at_ms <= now_ms + MAX_CLOCK_SKEW_MS


def _kept_by_rule(adds, keep: int, horizon_ms: int, cap: int) -> list[set[int]]:
    """The duplicate memory's rule by brute force: after each new id, order all ids by
    (minute, hash) and drop from the oldest while more than keep remain and the oldest is
    beyond the horizon, or while more than max(cap, keep) remain."""
    ids: dict[int, int] = {}
    newest, kept = None, []
    for h, ms in adds:
        if h not in ids:
            ids[h] = ms // 60_000
            newest = ms if newest is None else max(newest, ms)
            ranked = sorted(ids, key=lambda x: (ids[x], x))
            while len(ranked) > keep and (ids[ranked[0]] < (newest - horizon_ms) // 60_000 or len(ranked) > max(cap, keep)):
                del ids[ranked.pop(0)]
        kept.append(set(ids))
    return kept


@PROPS
@given(st.lists(st.integers(0, 40), max_size=120), st.integers(1, 6), st.integers(1, 12), st.integers(0, 20),
       st.randoms(use_true_random=False))
def test_id_memory_follows_its_rule_in_any_arrival_order(hashes, keep, cap, horizon_min, rnd):
    when = {h: T0 + (h * 7919 % 31) * 20_000 for h in range(41)}  # one event time per id, ~4 per minute
    adds = [(h, when[h]) for h in hashes]
    horizon_ms = horizon_min * 60_000
    memories = []
    for order in (adds, rnd.sample(adds, len(adds))):
        memory, newest = IdMemory(), None
        for (h, ms), expected in zip(order, _kept_by_rule(order, keep, horizon_ms, cap)):
            if h not in memory:
                newest = ms if newest is None else max(newest, ms)
                memory.add(h, ms)
                memory.forget(newest, horizon_ms, keep, cap)
            assert set(memory.ids) == expected
            copy = IdMemory.from_json(orjson.loads(orjson.dumps(memory.to_json())))
            assert copy.to_json() == memory.to_json() and set(copy.ids) == expected
            memory = copy if h % 2 else memory  # half the time continue from the decoded copy
        memories.append(memory)
    first, second = memories
    assert set(first.ids) == set(second.ids) and first.to_json() == second.to_json()
    plain = IdMemory()  # never grouped: the same rows
    for h in first.ids:
        plain.add(h, when[h])
    assert plain.to_json() == first.to_json()
