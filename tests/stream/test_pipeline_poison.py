"""Whatever a record carries (any bytes in key, value and headers), the pipeline folds it or
dead-letters it with a reason, and the rest of its batch is folded."""
from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.events import DECODE_REASONS
from handlers.state import CustomerState
from streams.runtime.routing import KIND_HEADER, SOURCE_TOPIC_HEADER, InputRecord, partition_for
from tests.support.fakes import PARTITIONS, DiscardingOutbox, MemoryStore, worker
from tests.unit.builders import raw

TOPICS = ["cs.accounts", "cs.interactions", "rekey", "referral"]


class HeaderRecordingOutbox(DiscardingOutbox):
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, dict]] = []

    def send(self, topic, key, value, headers=None, on_sent=None):
        self.sent.append((topic, key, value, dict(headers or {})))
        super().send(topic, key, value, headers, on_sent)


customers = st.sampled_from(["c1", "c2", "acme:42", "ünï", "\x00watermark:1"])
valid_values = st.builds(
    lambda customer, day: raw("interaction", day, customer, direction="inbound", channel="email"),
    customers, st.integers(0, 30))
json_values = st.dictionaries(st.sampled_from(["event_id", "customer_id", "occurred_at", "kind", "direction",
                                               "channel", "x"]),
                              st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.text(max_size=8), st.floats())).map(orjson.dumps)
values = st.one_of(st.none(), st.binary(max_size=64), valid_values, json_values)
header_values = st.one_of(st.binary(max_size=12), st.sampled_from([b"\xff\xfe", b"account", b"interaction",
                                                                   b"cs.accounts", b"nope"]))
headers = st.dictionaries(st.sampled_from([KIND_HEADER, SOURCE_TOPIC_HEADER, "x-other"]), header_values, max_size=3)


@st.composite
def records(draw):
    count = draw(st.integers(1, 12))
    out = []
    for offset in range(count):
        key = draw(st.one_of(st.none(), st.binary(max_size=16), customers.map(str.encode)))
        partition = partition_for(key, PARTITIONS) if key else draw(st.integers(0, PARTITIONS - 1))
        out.append(InputRecord(draw(st.sampled_from(TOPICS)), partition, offset, key, draw(values), draw(headers)))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=records())
def test_every_record_is_folded_or_dead_lettered_and_nothing_raises(batch):
    store, outbox = MemoryStore(), HeaderRecordingOutbox()
    pipeline = worker(store, [], [1000.0], outbox=outbox)
    pipeline.process_batch(batch)  # never raises

    dead = {(h["cshealth-source-partition"], h["cshealth-source-offset"]): h for topic, _, _, h in outbox.sent
            if topic == "cs.dlq"}
    for reason in {h["cshealth-reason"].decode() for h in dead.values()}:
        assert reason in DECODE_REASONS + ("processing_error",)
    rekeyed = sum(1 for topic, *_ in outbox.sent if topic == "rekey")
    applied = set()
    for key, value in store.data.items():
        if not key.startswith(b"\x00"):
            state = CustomerState.from_bytes(value)
            applied |= {(position, offset) for position, offset in state.applied_offsets.items()}
    folded = 0
    for record in batch:
        position = f"{record.topic}:{record.partition}"
        if (str(record.partition).encode(), str(record.offset).encode()) in dead:
            continue
        if any(p == position and o >= record.offset for p, o in applied):
            folded += 1
    assert len(dead) + rekeyed + folded >= len(batch)
    assert all(not key.startswith(b"\x00") or key.startswith((b"\x00watermark:", b"\x00inputs:")) for key in store.data)
