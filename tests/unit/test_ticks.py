"""Plan.next_change (bisect over source days) agrees with the plain set of change days."""
from hypothesis import given, settings, strategies as st

from handlers import ticks
from handlers.customer import apply
from handlers.events import decode, is_employee_survey
from handlers.metrics import FAMILIES
from handlers.state import CustomerState

from .builders import CONFIG, D0, fold_all, interaction, nps
from .strategies import event_lines


def _brute(state, family, day):
    days = {d + n for f in ([family] if family else FAMILIES)
            for src, offsets in f.change_sources(state, CONFIG) for d in src for n in offsets}
    return min((d for d in days if d > day), default=ticks.FAR)


@settings(max_examples=30, deadline=None)
@given(event_lines(), st.integers(-10, 400))
def test_next_change_matches_the_set_of_change_days(lines, offset):
    state = CustomerState.new("c1")
    for line in lines:
        event = decode(line)
        if not is_employee_survey(event) and event.customer_id == "c1":
            apply(state, event, CONFIG)
    plan = ticks.Plan(state, CONFIG)
    for family in (None, *FAMILIES):
        assert plan.next_change(family, D0 + offset) == _brute(state, family, D0 + offset)


def test_snapshot_memo_is_only_live_while_reading():
    state = fold_all([nps(9, day=1), interaction(day=2)])
    with state.reading():
        assert state.memo == {}
    assert state.memo is None
