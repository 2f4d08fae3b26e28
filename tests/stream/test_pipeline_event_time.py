"""Event time a worker can trust: every record read moves its input's position, a producer's
wrong clock is dead-lettered, and the watermark never passes the wall clock plus the skew."""
from __future__ import annotations

import orjson

from handlers.timeutil import iso
from streams.runtime.pipeline import WATERMARK_KEY_PREFIX
from streams.runtime.routing import InputRecord, partition_for
from tests.support.fakes import FAKE_WALL_START_S, PARTITIONS, FakePositions, MemoryStore, RecordingOutbox, worker
from tests.unit.builders import at, raw

HOUR_MS = 3_600_000


def record(topic: str, customer: str, offset: int, body: bytes) -> InputRecord:
    key = customer.encode()
    return InputRecord(topic, partition_for(key, PARTITIONS), offset, key, body, {})


def positions_from(highwater: dict[tuple[str, int], int]) -> FakePositions:
    """Kafka's answer as a broker gives it: records after `offset` up to the high-water mark."""
    def unread(topic, partition, offset):
        end = highwater.get((topic, partition), 0)
        return end if offset is None else end - offset - 1
    return FakePositions(unread=unread)


def test_a_partition_whose_last_record_is_rejected_does_not_hold_event_time():
    good = record("cs.interactions", "c1", 0, raw("interaction", 3, "c1", direction="inbound", channel="email"))
    other = record("cs.accounts", "c2", 0, raw("account", 9, "c2", owner="ann", segment="smb"))
    malformed = InputRecord("cs.interactions", good.partition, 1, b"c1", b"{not json", {})
    duplicate = InputRecord("cs.accounts", other.partition, 1, b"c2", other.value, {})
    highwater = {("cs.interactions", good.partition): 2, ("cs.accounts", other.partition): 2}
    clock = [1000.0]
    outbox = RecordingOutbox()
    pipeline = worker(MemoryStore(), [], clock, outbox=outbox, positions=positions_from(highwater))
    clock[0] += 1
    pipeline.process_batch([good, other, malformed, duplicate])
    assert len(outbox.values("cs.dlq")) == 1
    clock[0] += 60  # both inputs quiet and caught up: the rejected last record is read too
    pipeline.process_batch([])
    assert pipeline.watermark_ms == at(9)


def test_an_event_beyond_the_skew_is_dead_lettered_with_its_own_reason():
    clock = [1000.0]
    outbox = RecordingOutbox()
    pipeline = worker(MemoryStore(), [], clock, outbox=outbox)
    wall_ms = int((FAKE_WALL_START_S + clock[0]) * 1000)
    ahead = orjson.dumps({"event_id": "f1", "customer_id": "c1", "occurred_at": wall_ms + 40 * 24 * HOUR_MS,
                          "direction": "inbound", "channel": "email"})
    near = orjson.dumps({"event_id": "f2", "customer_id": "c1", "occurred_at": wall_ms + HOUR_MS // 2,
                         "direction": "inbound", "channel": "email"})
    pipeline.process_batch([record("cs.interactions", "c1", 0, ahead), record("cs.interactions", "c1", 1, near)])
    assert outbox.values("cs.dlq") == [ahead]
    reasons = pipeline.metrics.events_rejected.labels("cs.interactions", "future_event")._value.get()
    assert reasons == 1
    clock[0] += 60
    pipeline.process_batch([])
    assert pipeline.watermark_ms <= int((FAKE_WALL_START_S + clock[0]) * 1000) + HOUR_MS


def test_the_watermark_never_passes_the_wall_clock_plus_the_skew():
    clock = [1000.0]
    pipeline = worker(MemoryStore(), [], clock, max_clock_skew_s=3600.0)
    wall_ms = int((FAKE_WALL_START_S + clock[0]) * 1000)
    inside = orjson.dumps({"event_id": "f1", "customer_id": "c1", "occurred_at": wall_ms + 50 * 60_000,
                           "direction": "inbound", "channel": "email"})
    pipeline.process_batch([record("cs.interactions", "c1", 0, inside)])
    clock[0] += 60
    pipeline.process_batch([])
    assert pipeline.watermark_ms == wall_ms + 50 * 60_000  # within the skew: it counts


def test_a_persisted_watermark_beyond_the_skew_is_clamped_at_start_up(caplog):
    store, clock = MemoryStore(), [1000.0]
    pipeline = worker(store, [], clock)
    future_ms = int((FAKE_WALL_START_S + 400 * 86_400) * 1000)
    store.put(WATERMARK_KEY_PREFIX + b"0", str(future_ms).encode(), None)
    with caplog.at_level("WARNING", logger="cshealth.watermark"):
        pipeline.restore_partition(0, store.keys())
    ceiling = int((FAKE_WALL_START_S + clock[0]) * 1000) + 3_600_000
    assert pipeline.watermark.floor == ceiling
    assert len([r for r in caplog.records if "clamped" in r.getMessage()]) == 1


def test_a_restarted_worker_knows_the_event_time_of_records_an_earlier_one_read():
    """kill -9 after the newest event was read and its offset committed: the next worker never
    reads it again, yet event time reaches it (the views' as_of, the days it closes)."""
    store, clock = MemoryStore(), [1000.0]
    older = record("cs.accounts", "c1", 0, raw("account", 2, "c1", owner="ann", segment="smb"))
    newest = record("cs.interactions", "c2", 0, raw("interaction", 9, "c2", direction="inbound", channel="email"))
    highwater = {("cs.accounts", older.partition): 1, ("cs.interactions", newest.partition): 1}
    first = worker(store, [], clock, positions=positions_from(highwater))
    first.process_batch([older, newest])

    restarted = worker(store, [], clock, positions=positions_from(highwater))
    for partition in range(PARTITIONS):
        restarted.restore_partition(partition, store.keys())
    clock[0] += 60  # nothing left to read anywhere
    assert restarted.watermark.current() == at(9)
    assert restarted.view(b"c1")["as_of"] == iso(at(9))
