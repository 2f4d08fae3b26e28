"""The worker's watermark: the slowest delivering input decides; quiet, caught-up inputs let go."""
from streams.watermark import Watermark


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def make(assigned=None, pending=None):
    clock = Clock()
    mark = Watermark(idle_s=5, clock=clock, assigned=assigned, pending=pending)
    clock.now = 10  # past the start-up hold
    return mark, clock


def test_slowest_delivering_input_decides():
    mark, clock = make()
    mark.observe("a", 0, 1_000, 0)
    mark.observe("b", 0, 5_000, 0)
    clock.now = 16  # first-record grace over
    mark.observe("a", 0, 2_000, 1)
    mark.observe("b", 0, 9_000, 1)
    assert mark.current() == 2_000


def test_quiet_caught_up_input_lets_go_and_floor_never_goes_back():
    mark, clock = make(pending=lambda t, p, o: 0)
    mark.observe("a", 0, 1_000, 0)
    mark.observe("b", 0, 9_000, 0)
    clock.now = 30
    assert mark.current() == 9_000  # both quiet: the newest event counts
    mark.observe("a", 0, 2_000, 1)
    assert mark.current() == 9_000


def test_input_with_unread_records_holds_even_when_quiet():
    mark, clock = make(pending=lambda t, p, o: 5 if t == "a" else 0)
    mark.observe("a", 0, 1_000, 0)
    mark.observe("b", 0, 9_000, 0)
    clock.now = 30
    assert mark.current() == 1_000


def test_assigned_input_not_heard_from_blocks_during_grace_then_by_backlog():
    pending = {"b": 3}
    mark, clock = make(assigned=lambda: [("a", 0), ("b", 0)], pending=lambda t, p, o: pending.get(t, 0))
    mark.observe("a", 0, 7_000, 0)
    assert mark.current() == 0  # b has not spoken yet
    clock.now = 20
    assert mark.current() == 0  # b still has unread records
    pending["b"] = 0
    assert mark.current() == 7_000


def test_start_up_hold():
    clock = Clock()
    mark = Watermark(idle_s=5, clock=clock)
    mark.observe("a", 0, 7_000, 0)
    assert mark.current() == 0
    clock.now = 12
    assert mark.current() == 7_000


def test_a_burst_after_a_quiet_spell_waits_for_every_input():
    mark, clock = make(pending=lambda t, p, o: 0)
    mark.observe("a", 0, 1_000, 0)
    mark.observe("b", 0, 1_000, 0)
    clock.now = 30
    assert mark.current() == 1_000
    clock.now = 60  # quiet for long; a burst starts on one input with stale high-water marks elsewhere
    mark.observe("a", 0, 20_000, 1)
    assert mark.current() == 1_000
    mark.observe("b", 0, 15_000, 1)
    clock.now = 64
    assert mark.current() == 15_000  # the slower input decides while both deliver
    clock.now = 70
    assert mark.current() == 20_000  # both quiet and caught up again
