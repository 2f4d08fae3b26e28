"""advance()'s quiet marks: a caller that keeps the mark of a state (and drops it when it folds an
event) closes quiet days without evaluating their ticks, with the same outputs and states."""
import orjson
from hypothesis import HealthCheck, given, settings

from handlers import ticks
from handlers.customer import advance, apply, snapshot
from handlers.events import decode, is_employee_survey
from handlers.state import CustomerState
from handlers.timeutil import DAY_MS

from .builders import CONFIG, D0, T0, at, fold_all, interaction, nps
from .strategies import event_lines

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _daily(lines, marks: bool, days: int = 90):
    """Each customer advanced to every event's time and at 07:00 of every day (a sweep per day
    once its tick closed), events folded in time order; outputs and snapshots in order, final states."""
    events = sorted((decode(line) for line in lines), key=lambda e: (e.occurred_at_ms, e.event_id))
    events = [e for e in events if not is_employee_survey(e)]
    states: dict[str, CustomerState] = {}
    kept: dict[str, tuple] = {}
    seen = []

    def step(cid, wm):
        state = states[cid]
        out = advance(state, wm, CONFIG, quiet=kept.get(cid) if marks else None, look_ahead=marks)
        kept[cid] = out.quiet
        seen.append(orjson.dumps([out.health_changes, out.alerts, snapshot(state, wm, CONFIG)],
                                 option=orjson.OPT_SORT_KEYS))

    i = 0
    for day in range(days):
        sweep_ms = T0 + day * DAY_MS + 7 * 3_600_000
        while i < len(events) and events[i].occurred_at_ms <= sweep_ms:
            e = events[i]
            i += 1
            states.setdefault(e.customer_id, CustomerState.new(e.customer_id))
            step(e.customer_id, e.occurred_at_ms)
            if apply(states[e.customer_id], e, CONFIG):
                kept.pop(e.customer_id, None)
        for cid in sorted(states):
            step(cid, sweep_ms)
    return seen, {cid: state.to_bytes() for cid, state in states.items()}


@PROPS
@given(event_lines())
def test_kept_marks_change_no_output_and_no_state(lines):
    assert _daily(lines, marks=True) == _daily(lines, marks=False)


def test_a_quiet_customer_is_closed_day_after_day_without_ticks(monkeypatch):
    state = fold_all([nps(9, day=0), interaction(day=1)])
    out = advance(state, at(3, 7), CONFIG, look_ahead=True)
    assert out.quiet is not None and out.quiet[1] > state.cursor + 1
    ran = []
    real_tick = ticks.tick
    monkeypatch.setattr(ticks, "tick", lambda *a, **k: ran.append(a[1]) or real_tick(*a, **k))
    mark = out.quiet
    for due in range(state.cursor + 1, mark[1] + 1):  # the sweep at 07:00 the day after closes `due`
        again = advance(state, at(due - D0 + 1, 7), CONFIG, quiet=mark, look_ahead=True)
        assert again.quiet == mark and not again and state.cursor == due
    assert ran == []
    advance(state, at(mark[1] - D0 + 2, 7), CONFIG, quiet=mark, look_ahead=True)
    assert ran == [mark[1] + 1]  # past the mark: its tick is evaluated


def test_a_mark_older_than_the_state_it_is_given_is_not_used():
    state = fold_all([nps(9, day=0), interaction(day=1)])
    advance(state, at(2, 7), CONFIG)
    stale = CustomerState.from_bytes(state.to_bytes())  # the cursor before the marked tick
    out = advance(state, at(3, 7), CONFIG, look_ahead=True)
    assert stale.cursor < out.quiet[0]
    plain = CustomerState.from_bytes(stale.to_bytes())
    assert advance(stale, at(5, 7), CONFIG, quiet=out.quiet) == advance(plain, at(5, 7), CONFIG)
    assert stale.to_bytes() == plain.to_bytes()
