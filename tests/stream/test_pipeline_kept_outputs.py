"""Health changes and alerts are kept with the state that produced them until Kafka confirmed
them: a worker that dies before that (its sends lost) leaves them to the next owner, which
sends them again with the same ids and content."""
from __future__ import annotations

import orjson

from streams.runtime.routing import InputRecord, partition_for
from tests.support.fakes import (PARTITIONS, Acknowledged, MemoryStore, RecordingOutbox, cancelling_customer,
                                 next_owner, worker)
from tests.unit.builders import raw


class LaterAcknowledgingOutbox(RecordingOutbox):
    """Kafka acknowledges when told to (after the batch's state write, as it does)."""

    def __init__(self) -> None:
        super().__init__()
        self.unacknowledged = []

    def send(self, topic, key, value, headers=None, on_sent=None):
        self.sent.append((topic, key, value))
        if on_sent:
            self.unacknowledged.append(on_sent)

    def acknowledge_all(self):
        callbacks, self.unacknowledged = self.unacknowledged, []
        for on_sent in callbacks:
            on_sent(Acknowledged())


class LosingOutbox(RecordingOutbox):
    """A worker about to die: records are queued, never acknowledged."""

    def send(self, topic, key, value, headers=None, on_sent=None):
        self.sent.append((topic, key, value))


def outputs(outbox: RecordingOutbox) -> list[tuple[str, dict]]:
    return [(topic, orjson.loads(value)) for topic, _, value in outbox.sent
            if topic in ("cs.health-changes", "cs.alerts")]


def test_unconfirmed_outputs_are_sent_again_by_the_next_owner():
    store, clock = MemoryStore(), [1000.0]
    dying = LosingOutbox()
    first = worker(store, [], clock, outbox=dying)
    batch = cancelling_customer("c1")
    first.process_batch(batch)
    first.sweep(batch[0].partition, None)
    lost = outputs(dying)
    assert any(topic == "cs.alerts" for topic, _ in lost) and any(topic == "cs.health-changes" for topic, _ in lost)

    # The next owner (a restart on the same store, or the changelog restored elsewhere).
    survivor = RecordingOutbox()
    next_owner(store, clock, batch[0].partition, survivor)
    resent = outputs(survivor)
    assert sorted(map(orjson.dumps, resent)) == sorted(map(orjson.dumps, lost))
    assert sorted(v for t, _, v in survivor.sent if t != "cs.health") == sorted(v for t, _, v in dying.sent
                                                                                if t in ("cs.health-changes", "cs.alerts"))


def test_confirmed_outputs_leave_the_state_at_its_next_write():
    store, clock = MemoryStore(), [1000.0]
    outbox = LaterAcknowledgingOutbox()
    pipeline = worker(store, [], clock, outbox=outbox)
    batch = cancelling_customer("c1")
    pipeline.process_batch(batch)
    pipeline.sweep(batch[0].partition, None)
    assert pipeline.states.load(b"c1").undelivered  # written in the batch that produced them
    outbox.acknowledge_all()
    # The next write of c1 (here: the sweep of the next day's boundary) leaves them out.
    key = b"c1-neighbour"
    while partition_for(key, PARTITIONS) != batch[0].partition:
        key += b"x"
    pipeline.process_batch([InputRecord("cs.interactions", batch[0].partition, 3, key,
                                        raw("interaction", 11, key.decode(), direction="inbound", channel="email"), {})])
    clock[0] += 60
    while pipeline.sweep(batch[0].partition, None):
        pass
    assert pipeline.states.load(b"c1").undelivered == []

    again = RecordingOutbox()
    next_owner(store, clock, batch[0].partition, again)
    assert outputs(again) == []  # nothing left to send again


def test_outputs_confirmed_before_the_first_sweep_of_a_gained_partition_are_not_sent_again():
    """Every partition a worker starts with counts as gained (its first sweep sends the kept
    outputs of the states it recovered); outputs this worker produced and Kafka acknowledged
    before that sweep are not among them, however long the sweep waited."""
    store, clock = MemoryStore(), [1000.0]
    outbox = LaterAcknowledgingOutbox()
    batch = cancelling_customer("c1")
    pipeline = worker(store, [], clock, outbox=outbox)
    pipeline.restore_partition(batch[0].partition, store.keys())
    pipeline.process_batch(batch)
    outbox.acknowledge_all()
    produced = outputs(outbox)
    assert any(topic == "cs.alerts" for topic, _ in produced)  # the batch itself closed the days
    clock[0] += 60
    while pipeline.sweep(batch[0].partition, None):
        outbox.acknowledge_all()
    ids = [(topic, record.get("alert_id") or record.get("change_id"), record.get("status"))
           for topic, record in outputs(outbox)]
    assert len(ids) == len(set(ids)), sorted(ids)
