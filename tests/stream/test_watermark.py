"""The worker's watermark: the slowest delivering input decides; quiet, caught-up inputs let go."""
from streams.runtime.routing import InputRecord, partition_for
from streams.runtime.watermark import Watermark
from tests.support.fakes import PARTITIONS, FakePositions, MemoryStore, worker
from tests.unit.builders import raw


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def make(assigned=None, pending=None):
    clock = Clock()
    mark = Watermark(idle_s=5, clock=clock, positions=FakePositions(unread=pending, assigned=assigned))
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


def test_input_without_news_from_kafka_since_its_last_record_holds():
    """Broker unreachable: fetches fail, the last high-water mark known says 'caught up' but
    was told before the input's last record; letting go would close days its unread records hold."""
    told = {"a": 20.0, "b": 20.0}  # seconds since Kafka last told the high-water mark
    mark = Watermark(idle_s=5, clock=Clock(), positions=FakePositions(
        unread=lambda t, p, o: 0, highwater_age=lambda t, p: told[t]))
    mark.clock.now = 10
    mark.observe("a", 0, 1_000, 0)
    mark.observe("b", 0, 9_000, 0)
    mark.clock.now = 30  # both quiet 20 s, their high-water marks told 25 s ago: before their records
    told.update(a=25.0, b=25.0)
    assert mark.current() == 1_000  # both hold: the slower decides
    told["b"] = 1.0  # a fetch of b answered after its last record: b is caught up, a is unknown
    assert mark.current() == 1_000
    told["a"] = 1.0
    assert mark.current() == 9_000


def test_assigned_input_never_fetched_blocks_until_the_wait_limit():
    told = {"a": 0.0, "b": None}
    mark = Watermark(idle_s=5, clock=Clock(), positions=FakePositions(
        unread=lambda t, p, o: 0, assigned=lambda: [("a", 0), ("b", 0)], highwater_age=lambda t, p: told[t]))
    mark.clock.now = 10
    mark.observe("a", 0, 7_000, 0)
    mark.clock.now = 20
    assert mark.current() == 0  # b: no fetch has answered yet
    told["b"] = 0.5
    assert mark.current() == 7_000


def test_the_effective_watermark_is_exported_next_to_the_newest_event_time():
    clock = [1000.0]
    pipeline = worker(MemoryStore(), [], clock,
                      positions=FakePositions(lambda t, p, o: 5 if t == "cs.accounts" else 0))
    pipeline.process_batch([
        InputRecord("cs.accounts", partition_for(b"c1", PARTITIONS), 0, b"c1",
                    raw("account", 0, "c1", owner="ann", segment="smb"), {}),
        InputRecord("cs.interactions", partition_for(b"c2", PARTITIONS), 0, b"c2",
                    raw("interaction", 9, "c2", direction="inbound", channel="email"), {})])
    gauge = pipeline.metrics.effective_watermark._value.get()
    newest = pipeline.metrics.watermark._value.get()
    assert gauge == pipeline.watermark_ms / 1000 < newest  # accounts has unread records: it holds


def test_the_watermark_stops_at_its_ceiling():
    clock = Clock()
    ceiling = [5_000]
    mark = Watermark(idle_s=5, clock=clock, positions=FakePositions(unread=lambda t, p, o: 0),
                     ceiling=lambda: ceiling[0])
    mark.observe("a", 0, 9_000, 0)
    clock.now = 30
    assert mark.current() == 5_000
    ceiling[0] = 20_000  # the wall clock moved on
    assert mark.current() == 9_000
