"""The customers-by-band gauge is counted as bands change (not recounted every second): it must
always equal the bands of each customer's latest cs.health record, also when a partition leaves."""
from __future__ import annotations

from collections import Counter

import orjson

from streams.runtime.routing import partition_for
from streams.telemetry.metrics import segment_label
from tests.stream.test_pipeline_quiet_marks import records
from tests.support.fakes import PARTITIONS, MemoryStore, RecordingOutbox, worker


def bands_of_latest_records(outbox: RecordingOutbox, owned: set[int]) -> Counter:
    latest = {}
    for topic, key, value in outbox.sent:
        if topic == "cs.health" and partition_for(key, PARTITIONS) in owned:
            latest[key] = orjson.loads(value)
    return Counter((record["health"]["band"] or "unknown", segment_label(record["metrics"].get("segment")))
                   for record in latest.values())


def test_band_counts_follow_every_band_change_and_a_partition_leaving():
    store, outbox, clock = MemoryStore(), RecordingOutbox(), [1000.0]
    pipeline = worker(store, [], clock, outbox=outbox)
    offsets: dict = {}
    seen_bands = set()
    for day in range(0, 90):
        pipeline.process_batch(records(day, offsets))
        clock[0] += 30
        for partition in range(PARTITIONS):
            pipeline.sweep(partition, None)
        expected = bands_of_latest_records(outbox, set(range(PARTITIONS)))
        assert dict(pipeline.band_counts) == dict(expected), day
        seen_bands |= {band for band, _ in expected}
    assert len(seen_bands) >= 2  # the customers moved between bands: the counts were updated, not only added to
    leaving = partition_for(b"c0", PARTITIONS)
    pipeline.forget_partition(leaving)
    assert dict(pipeline.band_counts) == dict(bands_of_latest_records(outbox, set(range(PARTITIONS)) - {leaving}))
