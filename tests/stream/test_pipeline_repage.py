"""A worker that gains a customer (restart, rebalance) pages its still-open alerts again:
Alertmanager forgets what the previous owner stops re-posting."""
from __future__ import annotations

from streams.runtime.pipeline import WATERMARK_KEY_PREFIX
from tests.support.fakes import MemoryStore, cancelling_customer, worker
from tests.unit.builders import at


def test_open_alerts_are_paged_again_by_the_next_owner_once():
    store, clock = MemoryStore(), [1000.0]
    first_paged: list[dict] = []
    first = worker(store, first_paged, clock)
    batch = cancelling_customer("c1")
    first.process_batch(batch)
    partition = batch[0].partition
    first.sweep(partition, None)
    fired = [a for a in first_paged if a["rule"] == "cancellation"]
    assert [a["status"] for a in fired] == ["firing"]

    # A new worker (after a restart, or the partition's new owner) with the same table.
    second_paged: list[dict] = []
    second = worker(store, second_paged, clock)
    second.restore_partition(partition, store.keys())
    clock[0] += 60
    assert second.sweep(partition, None) == 1
    again = [a for a in second_paged if a["rule"] == "cancellation"]
    assert len(again) == 1
    assert again[0]["status"] == "firing" and again[0]["alert_id"] == fired[0]["alert_id"]
    assert again[0]["owner"] == "ann" and again[0]["customer_id"] == "c1"

    # Later sweeps do not page it again: the notifier re-posts what it already holds.
    second.watermark.observe("cs.interactions", partition, at(12), 10)
    clock[0] += 60
    second.sweep(partition, None)
    assert len([a for a in second_paged if a["rule"] == "cancellation"]) == 1


def test_other_partitions_are_not_paged():
    store, clock = MemoryStore(), [1000.0]
    first = worker(store, [], clock)
    batch = cancelling_customer("c1")
    first.process_batch(batch)
    other = 1 - batch[0].partition
    paged: list[dict] = []
    second = worker(store, paged, clock)
    second.restore_partition(other, store.keys())
    second.watermark.restore(at(9))
    clock[0] += 60
    second.sweep(other, None)
    assert paged == []


def test_a_sweep_is_spread_over_ticks_within_its_time_budget():
    store, clock = MemoryStore(), [1000.0]
    pipeline = worker(store, [], clock)
    batch = [record for i in range(40) for record in cancelling_customer(f"c{i}")]
    pipeline.process_batch(batch)
    partition = batch[0].partition
    owned = len(pipeline.customers_by_partition[partition])
    assert owned > 3
    counts = [pipeline.sweep(partition, None, budget_s=0.0) for _ in range(owned + 2)]  # one customer a call
    assert counts == [1] * owned + [0, 0]  # then done until the watermark's day moves
    assert store.get(WATERMARK_KEY_PREFIX + str(partition).encode()) is not None
