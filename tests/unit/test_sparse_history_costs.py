"""What keeps a long, sparse history cheap: the BG/NBD reading is computed once per argument set,
quiet-stretch bounds keep falls and rises apart, and an alert's score breakdown is built without the
full read-out. Each must leave every output exactly as it was."""
import orjson
import pytest

from handlers import ticks
from handlers.customer import advance, apply
from handlers.metrics import bgnbd
from handlers.score import Component, breakdown, brief, combine, half_width, health_dict
from handlers.state import CustomerState

from .builders import CONFIG, at, fold_all, nps, purchase, ticket


def test_expected_is_the_series_value_and_its_memory_is_bounded(monkeypatch):
    p = CONFIG.purchases.params
    args = [(90.0, x, float(t), float(T), p) for x in (0, 1, 4) for t in (0, 30) for T in (30, 31, 200)]
    monkeypatch.setattr(bgnbd, "_EXPECTED", {})
    monkeypatch.setattr(bgnbd, "EXPECTED_CACHE", 5)
    for a in args + args:  # the second pass reads what the first stored, where it is still kept
        assert bgnbd.expected(*a) == bgnbd._expected(*a)
        assert len(bgnbd._EXPECTED) <= 5


def _at(start, end):
    return Component(start, {}, drift=("at", lambda k: start + (end - start) * min(k, 10) / 10))


def test_drift_keeps_falls_and_rises_apart():
    comps = {n: Component(None, {}) for n in ticks.COMPONENTS}
    comps["purchases"] = _at(60.0, 40.0)   # falls 20
    comps["support"] = _at(50.0, 70.0)     # rises 20
    comps["nps"] = Component(80.0, {}, drift=("decay", 30.0, 30.0))  # above its prior: can only fall
    down, up = ticks._drift(comps, 10, CONFIG)
    w, total = CONFIG.weights, sum(getattr(CONFIG.weights, n) for n in ticks.COMPONENTS)
    fade = 30.0 * (1.0 - 0.5 ** (10 / 30.0))
    assert down == pytest.approx((w.purchases * 20 + w.nps * fade) / total)
    assert up == pytest.approx(w.support * 20 / total)


def test_a_single_purchase_fading_against_a_rising_reading_is_evaluated_on_few_days(monkeypatch):
    # One purchase: the purchases and activity readings fade while the support reading (no tickets
    # over more observed days) rises. Summing every move both ways made this 11 ticks over 270 days.
    evaluated = []
    tick = ticks.tick
    monkeypatch.setattr(ticks, "tick", lambda state, day, *a, **k: evaluated.append(day) or tick(state, day, *a, **k))
    state = CustomerState.new("c1")
    apply(state, purchase(40.0, day=0), CONFIG)
    advance(state, at(270), CONFIG)
    assert len(evaluated) <= 9, evaluated


def test_an_alerts_brief_is_the_breakdown_of_the_full_read_out():
    state = fold_all([nps(2, day=0), nps(3, day=1), purchase(40.0, day=1), ticket("t1", day=2), ticket("t2", day=3)])
    advance(state, at(40), CONFIG)
    comps = ticks.components(state, state.cursor, CONFIG)
    assert any(c.score is None for c in comps.values()) and any(c.score is not None for c in comps.values())
    score, contrib = combine(comps, CONFIG)
    half = half_width(comps, CONFIG)
    full = breakdown(health_dict(comps, score, contrib, state.band, CONFIG))
    assert orjson.dumps(brief(comps, score, half, contrib, state.band, CONFIG)) == orjson.dumps(full)


def test_a_state_read_and_written_without_events_keeps_its_id_rows_undecoded():
    state = fold_all([nps(9, day=0), purchase(40.0, day=1), ticket("t1", day=2)])
    raw = state.to_bytes()
    again = CustomerState.from_bytes(raw)
    advance(again, at(30), CONFIG)  # a closed day, as the sweep closes it: no event, no id looked up
    assert again.seen._ids is None
    assert orjson.loads(again.to_bytes())["seen"] == orjson.loads(raw)["seen"]
    assert again.seen._ids is None
    late = purchase(10.0, day=3)
    assert apply(again, late, CONFIG)  # a new id: decoded, added, and written with the others
    assert len(again.seen) == 4 and len(orjson.loads(again.to_bytes())["seen"]) > 0
    assert not apply(again, late, CONFIG)
    assert CustomerState.from_bytes(again.to_bytes()).seen.ids == again.seen.ids
