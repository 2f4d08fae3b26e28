"""A day boundary's sweep goes in short slices while input flows (live events wait behind each)
and in long ones when none came for a while (nobody waits: the sweep takes its CPU time)."""
from __future__ import annotations

from streams.runtime.clock import Clock
from streams.runtime.routing import InputRecord, partition_for
from tests.support.fakes import PARTITIONS, MemoryStore, worker
from tests.unit.builders import raw

CUSTOMERS = 200
READ_COST_S = 0.01  # each read of the clock moves it: evaluating a customer takes time


def record(key: bytes, day: int, offset: int) -> InputRecord:
    return InputRecord("cs.interactions", partition_for(key, PARTITIONS), offset, key,
                       raw("interaction", day, key.decode(), f"{key.decode()}-{offset}", direction="inbound",
                           channel="email"), {})


def slices_of_a_day_boundary(input_flows: bool) -> list[int]:
    """Customers evaluated per sweep call (every partition's tick in each batch) across a day
    boundary, with an input record folded before each batch of ticks or none at all."""
    store, clock = MemoryStore(), [1000.0]
    pipeline = worker(store, [], clock)
    keys = [f"c{n}".encode() for n in range(CUSTOMERS)]
    pipeline.process_batch([record(key, 0, n) for n, key in enumerate(keys)])
    for partition in range(PARTITIONS):  # day 0's sweep: not measured
        while pipeline.sweep(partition, None):
            pass

    def costly_read() -> float:
        clock[0] += READ_COST_S
        return clock[0]

    pipeline.clock = Clock(monotonic=costly_read, wall=pipeline.clock.wall)
    clock[0] += 60  # past the sweeps' minimum interval
    offset = CUSTOMERS
    pipeline.process_batch([record(keys[0], 3, offset)])  # the watermark moves days on: every customer is due
    if not input_flows:
        clock[0] += 2 * pipeline.options.sweep_idle_after_s
    sizes: list[int] = []
    while pipeline.sweep_pending() or not sizes:
        if input_flows:
            offset += 1
            pipeline.process_batch([record(keys[0], 3, offset)])
        slice_s = pipeline.sweep_slice_s(PARTITIONS)
        sizes.extend(pipeline.sweep(partition, None, slice_s) for partition in range(PARTITIONS))
    return [n for n in sizes if n]


def test_a_sweep_takes_short_slices_while_input_flows_and_long_ones_when_idle():
    live = slices_of_a_day_boundary(input_flows=True)
    idle = slices_of_a_day_boundary(input_flows=False)
    assert sum(live) >= CUSTOMERS - 1 and sum(idle) >= CUSTOMERS - 1  # every customer swept either way
    assert max(live) <= 0.05 / READ_COST_S + 1  # the sweep budget, 50 ms
    assert max(idle) >= 4 * max(live) and len(idle) * 4 < len(live)


def test_the_sweep_interval_holds_while_input_flows_and_an_idle_worker_sweeps_at_once():
    # The end of a backlog: the last days close while the previous sweep is seconds old. Input
    # still flowing, the next sweep waits out the interval (the day would move again soon);
    # with none for a while, it starts at once instead of up to min_interval_s later.
    store, clock = MemoryStore(), [1000.0]
    pipeline = worker(store, [], clock)
    keys = [f"c{n}".encode() for n in range(20)]
    pipeline.process_batch([record(key, 0, n) for n, key in enumerate(keys)])

    def sweep_all() -> int:
        swept = 0
        for partition in range(PARTITIONS):
            while evaluated := pipeline.sweep(partition, None):
                swept += evaluated
        return swept

    assert sweep_all() == len(keys)
    swept_at = pipeline.swept_through_ms()
    clock[0] += 1  # well within the interval
    pipeline.process_batch([record(keys[0], 3, 100)])  # the watermark moves days on
    assert sweep_all() == 0  # input flows: the interval holds
    clock[0] += 2 * pipeline.options.sweep_idle_after_s
    assert clock[0] - 1000.0 < pipeline.options.sweep_min_interval_s  # still within it
    assert sweep_all() == len(keys)
    assert pipeline.swept_through_ms() > swept_at
