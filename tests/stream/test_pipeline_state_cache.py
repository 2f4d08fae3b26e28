"""The worker keeps recently written states decoded in memory; what it writes must not depend on it."""
from __future__ import annotations

import pytest

import streams.runtime.pipeline
from handlers.state import CustomerState
from streams.runtime.routing import InputRecord, partition_for
from tests.support.fakes import PARTITIONS, MemoryStore, worker
from tests.unit.builders import at, raw


def interactions(customer: str, days: range, first_offset: int = 0) -> list[InputRecord]:
    key = customer.encode()
    return [InputRecord("cs.interactions", partition_for(key, PARTITIONS), first_offset + i, key,
                        raw("interaction", day, customer, f"{customer}-{first_offset + i}", direction="inbound",
                            channel="email"), {})
            for i, day in enumerate(days)]


def run(cache_size: int) -> MemoryStore:
    store, clock = MemoryStore(), [1000.0]
    pipeline = worker(store, [], clock, state_cache_size=cache_size)
    offset = 0
    for day in range(0, 40, 4):  # every customer in every batch, days moving on: ticks close
        batch = []
        for n in range(5):
            batch += interactions(f"c{n}", range(day, day + 4), offset)
        offset += 4
        pipeline.process_batch(batch)
        clock[0] += 30
        for partition in range(PARTITIONS):
            pipeline.sweep(partition, None)
    return store


def test_the_cache_changes_nothing_that_is_written():
    cached, uncached = run(cache_size=3), run(cache_size=0)  # 3 < 5 customers: evictions too
    assert cached.data == uncached.data
    assert CustomerState.from_bytes(cached.data[b"c0"]).events == 40


def test_a_failed_fold_leaves_no_half_folded_state_behind(monkeypatch):
    store, clock = MemoryStore(), [1000.0]
    pipeline = worker(store, [], clock)
    pipeline.process_batch(interactions("c1", range(0, 3)))
    assert b"c1" in pipeline.states

    real_apply = streams.runtime.pipeline.apply

    def apply_then_fail(state, event, config):
        real_apply(state, event, config)  # the state is changed ...
        raise RuntimeError("bug")  # ... and then the fold fails

    monkeypatch.setattr(streams.runtime.pipeline, "apply", apply_then_fail)
    pipeline.process_batch(interactions("c1", range(3, 5), first_offset=3))
    assert b"c1" not in pipeline.states
    monkeypatch.setattr(streams.runtime.pipeline, "apply", real_apply)

    pipeline.process_batch(interactions("c1", range(5, 6), first_offset=5))
    # 3 + 1: the two parked in the dead-letter topic were never applied to the stored state
    assert CustomerState.from_bytes(store.data[b"c1"]).events == 4


@pytest.mark.parametrize("leave", ["forget_partition", "restore_partition"])
def test_a_partition_that_left_is_read_from_the_table_again(leave):
    store, clock = MemoryStore(), [1000.0]
    pipeline = worker(store, [], clock)
    batch = interactions("c1", range(0, 3))
    pipeline.process_batch(batch)
    partition = batch[0].partition
    # Meanwhile another worker owned the partition and folded more (its table, recovered here).
    elsewhere = worker(store, [], clock)
    elsewhere.process_batch(interactions("c1", range(3, 6), first_offset=3))
    if leave == "forget_partition":
        pipeline.forget_partition(partition)
    pipeline.restore_partition(partition, store.keys())
    pipeline.process_batch(interactions("c1", range(6, 7), first_offset=6))
    assert CustomerState.from_bytes(store.data[b"c1"]).events == 7
    assert at(6) <= CustomerState.from_bytes(store.data[b"c1"]).max_ms
