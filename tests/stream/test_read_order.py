"""streams.runtime.read_order: a partition is folded in offset order, a record past a hole waits
for a rewind, rewinds repeat until the hole is filled, and only a hole every rewind confirms is
read past; a partition whose records below its end never come is read again too."""
from __future__ import annotations

from streams.runtime.read_order import ReadOrder


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def order(committed: dict[tuple[str, int], int | None], confirm_after: int = 3,
          clock: Clock | None = None) -> ReadOrder:
    reads = ReadOrder(confirm_after=confirm_after, rewind_interval_s=1.0, stall_after_s=5.0, stall_after_batches=3,
                      clock=clock or Clock())
    assert reads.unstarted(set(committed)) == set(committed)
    for partition, offset in committed.items():
        reads.start(partition, offset)
    assert reads.unstarted(set(committed)) == set()
    return reads


def rewind_now(reads: ReadOrder, clock: Clock) -> dict:
    clock.now += 1.0
    return reads.take_rewinds()


def test_contiguous_records_from_the_committed_offset_are_admitted():
    reads = order({("t", 0): 5})
    assert [reads.admit("t", 0, offset) for offset in (5, 6, 7)] == [True, True, True]
    assert reads.take_rewinds() == {}


def test_records_below_the_expected_offset_are_re_reads_and_admitted():
    reads = order({("t", 0): 5})
    assert reads.admit("t", 0, 3)  # the states skip what they have applied
    assert reads.admit("t", 0, 5) and reads.admit("t", 0, 6)
    assert reads.admit("t", 0, 2)
    assert reads.take_rewinds() == {}


def test_a_record_past_a_hole_is_refused_and_its_partition_rewound_to_the_hole():
    reads = order({("t", 0): 5})
    assert reads.admit("t", 0, 5)
    assert not reads.admit("t", 0, 9)  # 6, 7, 8 never delivered
    assert not reads.admit("t", 0, 10)  # the rest of the batch waits too
    reads.start(("t", 1), None)
    assert reads.admit("t", 1, 0)  # other partitions go on
    assert reads.take_rewinds() == {("t", 0): (6, 9)}
    assert [reads.admit("t", 0, offset) for offset in (6, 7, 8, 9, 10)] == [True] * 5


def test_rewinds_repeat_at_most_once_an_interval_until_the_hole_is_filled():
    clock = Clock()
    reads = order({("t", 0): 5}, clock=clock)
    assert not reads.admit("t", 0, 9)
    assert reads.take_rewinds() == {("t", 0): (5, 9)}
    assert not reads.admit("t", 0, 10)  # fetched before the rewind: refused, no new rewind yet
    assert reads.take_rewinds() == {}
    assert rewind_now(reads, clock) == {("t", 0): (5, 10)}  # nothing came: again (a quiet partition too)
    assert rewind_now(reads, clock) == {("t", 0): (5, 10)}
    assert reads.admit("t", 0, 5)
    assert rewind_now(reads, clock) == {}


def test_the_first_record_of_a_process_must_be_at_the_committed_offset():
    reads = order({("t", 0): 40})
    assert not reads.admit("t", 0, 56)  # a batch fetched before the restart's seek, say
    assert reads.take_rewinds() == {("t", 0): (40, 56)}
    nothing_committed = order({("t", 3): None})
    assert not nothing_committed.admit("t", 3, 125)
    assert nothing_committed.take_rewinds() == {("t", 3): (0, 125)}


def test_a_hole_every_rewind_confirms_is_accepted_once_and_read_past():
    clock = Clock()
    reads = order({("t", 0): 5}, confirm_after=3, clock=clock)
    assert reads.admit("t", 0, 5)
    for _ in range(3):
        assert not reads.admit("t", 0, 7)  # offset 6 is a transaction marker: 7 comes first every time
        assert rewind_now(reads, clock) == {("t", 0): (6, 7)}
    assert reads.admit("t", 0, 7)
    assert reads.take_accepted_holes() == [(("t", 0), 6, 7)]
    assert reads.take_accepted_holes() == []
    assert reads.admit("t", 0, 8) and rewind_now(reads, clock) == {}


def test_stale_records_arriving_after_a_rewind_do_not_confirm_a_hole():
    clock = Clock()
    reads = order({("t", 0): 5}, confirm_after=2, clock=clock)
    assert reads.admit("t", 0, 5)
    for stale in (9, 12, 15, 18):  # each rewind is followed by a different record fetched before it
        assert not reads.admit("t", 0, stale)
        assert rewind_now(reads, clock) == {("t", 0): (6, stale)}
    assert reads.take_accepted_holes() == []
    assert reads.admit("t", 0, 6)


def test_records_of_one_batch_count_as_one_sighting_after_a_rewind():
    clock = Clock()
    reads = order({("t", 0): 0}, confirm_after=2, clock=clock)
    assert not reads.admit("t", 0, 4)
    rewind_now(reads, clock)
    for offset in (4, 5, 6):  # one delivery after the rewind, several records
        assert not reads.admit("t", 0, offset)
    rewind_now(reads, clock)
    assert reads.take_accepted_holes() == []


def test_a_revoked_partition_starts_again_from_the_committed_offset():
    reads = order({("t", 0): 5})
    assert reads.admit("t", 0, 5) and reads.admit("t", 0, 6)
    assert not reads.admit("t", 0, 9)
    reads.forget({("t", 0)})
    assert reads.take_rewinds() == {}  # not this worker's any more
    assert reads.unstarted({("t", 0)}) == {("t", 0)}
    reads.start(("t", 0), 20)  # another worker read on meanwhile
    assert not reads.admit("t", 0, 27)
    assert reads.take_rewinds() == {("t", 0): (20, 27)}
    assert reads.admit("t", 0, 20)


def batches(reads: ReadOrder, clock: Clock, n: int, seconds: float, partitions=()) -> None:
    """n batches taken over `seconds`, with records of `partitions` (none: ticks only)."""
    for _ in range(n):
        clock.now += seconds / n
        reads.taken(set(partitions))


def test_a_partition_whose_records_below_its_end_never_come_is_read_again_from_the_expected_offset():
    # Faust cleared its stream buffer with offsets 7..9 in it: nothing later reveals the hole.
    clock = Clock()
    reads = order({("t", 0): 5, ("t", 1): 0}, clock=clock)
    reads.taken({("t", 0)})
    assert reads.admit("t", 0, 5) and reads.admit("t", 0, 6)
    ends = {("t", 0): 10, ("t", 1): 0}
    batches(reads, clock, 4, 4.0)
    assert reads.take_stalled(ends.get) == {}  # 4 s: records may still be in the stream's buffer
    batches(reads, clock, 1, 1.0)
    assert reads.take_stalled(ends.get) == {("t", 0): 7}  # t:1 has nothing unread
    assert reads.take_stalled(ends.get) == {}  # once per stall period
    reads.taken({("t", 0)})
    assert [reads.admit("t", 0, offset) for offset in (7, 8, 9)] == [True] * 3
    batches(reads, clock, 10, 20.0)
    assert reads.take_stalled(ends.get) == {}  # read to its end


def test_one_slow_batch_or_steady_arrivals_never_make_a_partition_stall():
    clock = Clock()
    reads = order({("t", 0): 0}, clock=clock)
    ends = {("t", 0): 100}
    batches(reads, clock, 1, 30.0)  # one batch took 30 s: its successors bring the partition's records
    assert reads.take_stalled(ends.get) == {}
    for offset in range(20):  # records keep coming, each batch a few
        batches(reads, clock, 1, 1.0, [("t", 0)])
        assert reads.admit("t", 0, offset)
        assert reads.take_stalled(ends.get) == {}


def test_a_partition_whose_records_never_come_is_read_on_past_them_but_commits_wait_for_them():
    # e.g. a transactional producer's commit markers at the end: offsets without records
    clock = Clock()
    reads = order({("t", 0): 3}, confirm_after=2, clock=clock)
    ends = {("t", 0): 5}
    rewinds = []
    for _ in range(3):
        batches(reads, clock, 3, 5.0)
        rewinds.append(reads.take_stalled(ends.get))
    assert rewinds == [{("t", 0): 3}, {("t", 0): 3}, {}]
    assert reads.admit("t", 0, 5)
    # Not counted as acked: the records may only be late (a backlog's fetcher can leave a partition
    # unserved that long), and Faust would commit past all of them at the partition's first ack.
    assert reads.take_accepted_holes() == []
    assert reads.admit("t", 0, 3) and reads.admit("t", 0, 4)  # late after all: they still fold


def test_a_stalled_partition_that_moves_on_starts_its_count_again():
    clock = Clock()
    reads = order({("t", 0): 3}, confirm_after=2, clock=clock)
    ends = {("t", 0): 6}
    batches(reads, clock, 3, 5.0)
    assert reads.take_stalled(ends.get) == {("t", 0): 3}
    reads.taken({("t", 0)})
    assert reads.admit("t", 0, 3)  # the rewind brought one record, then the next stalled again
    for _ in range(2):
        batches(reads, clock, 3, 5.0)
        assert reads.take_stalled(ends.get) == {("t", 0): 4}
    assert reads.take_accepted_holes() == []


def test_a_partition_with_a_hole_waits_for_its_rewinds_not_for_a_stall():
    clock = Clock()
    reads = order({("t", 0): 0}, clock=clock)
    assert not reads.admit("t", 0, 4)
    batches(reads, clock, 5, 10.0)
    assert reads.take_stalled({("t", 0): 10}.get) == {}
    assert reads.take_rewinds() == {("t", 0): (0, 4)}


def test_faust_drops_the_events_waiting_in_a_stream_buffer_when_a_recovery_ends():
    """Why a stalled partition is read again (faust-streaming 0.15.3): the recovery resumes the
    partitions, seeks to the committed offsets while the fetcher runs, then resumes flow control,
    which empties every stream buffer; what was delivered meanwhile is neither acked nor read again."""
    import asyncio
    import inspect

    import faust
    from faust.tables.recovery import Recovery

    source = inspect.getsource(Recovery.on_recovery_completed)
    assert source.index("resume_partitions") < source.index("perform_seek") < source.index("flow_control.resume()")

    async def run():
        app = faust.App("read-order-faust", broker="kafka://127.0.0.1:1")  # never connects
        channel = app.topic("in").clone(is_iterator=True)
        app.flow_control.resume()  # flow is on, as during the recovery's seek
        channel.queue.put_nowait("delivered during the seek")
        app.flow_control.resume()  # the recovery's last step
        return channel.queue.qsize()

    assert asyncio.run(run()) == 0
