"""In-memory stand-ins for the worker's table and producer, for Pipeline tests without Kafka."""
from __future__ import annotations

from handlers.config import load_config
from streams.telemetry.metrics import Metrics
from streams.runtime.clock import Clock
from streams.runtime.pipeline import Pipeline, PipelineOptions
from streams.runtime.routing import InputRecord, partition_for
from streams.runtime.topics import PipelineTopics
from tests.unit.builders import at, raw

PARTITIONS = 2
TOPICS = {"cs.accounts": "account", "cs.interactions": "interaction"}


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key, origin=None):
        return self.data.get(key)

    def put(self, key, value, origin):
        self.data[key] = value

    def keys(self):
        return self.data.keys()


class Acknowledged:
    """A send Kafka acknowledged, as the outbox's on_sent callbacks see it."""

    def cancelled(self):
        return False

    def exception(self):
        return None

    def result(self):
        return None


class DiscardingOutbox:
    """Outputs acknowledged at once and dropped."""

    def send(self, topic, key, value, headers=None, on_sent=None):
        if on_sent:
            on_sent(Acknowledged())

    def note_failure(self, future):
        raise AssertionError(f"a send failed: {future.exception()!r}")


class RecordingOutbox(DiscardingOutbox):
    """Outputs acknowledged at once and kept."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.headers: list[dict[str, bytes]] = []  # of each record sent, in the same order

    def send(self, topic, key, value, headers=None, on_sent=None):
        self.sent.append((topic, key, value))
        self.headers.append(dict(headers or {}))
        super().send(topic, key, value, headers, on_sent)

    def values(self, topic: str) -> list[bytes]:
        return [value for sent_to, _, value in self.sent if sent_to == topic]


class FakePositions:
    """Kafka positions with chosen answers (the KafkaPositions port): `unread(topic, partition,
    offset)` counts unread records (default: none known), `assigned()` lists the input
    partitions (default: those seen), `highwater_age(topic, partition)` (default: just told)."""

    def __init__(self, unread=None, assigned=None, highwater_age=None) -> None:
        self._unread = unread or (lambda topic, partition, offset: None)
        self._assigned = assigned or (lambda: None)
        self._highwater_age = highwater_age or (lambda topic, partition: 0.0)

    def unread(self, topic, partition, after_offset):
        return self._unread(topic, partition, after_offset)

    def assigned_inputs(self):
        return self._assigned()

    def highwater_age(self, topic, partition):
        return self._highwater_age(topic, partition)

    def assigned_partitions(self, topic):
        """Of a topic that is not an input: the partitions of the assigned inputs."""
        assigned = self._assigned()
        return None if assigned is None else sorted({partition for _, partition in assigned})


FAKE_WALL_START_S = 2_000_000_000.0  # 2033-05-18


def worker(store: MemoryStore, paged: list, clock: list, outbox=None, positions=None, **options) -> Pipeline:
    """A Pipeline over `store` on a fake clock (both of its clocks move with clock[0]), paging into
    `paged`, its outputs discarded (or kept by `outbox`); `options` are PipelineOptions."""
    def now():
        return clock[0]

    def wall():  # the fake clock's seconds after a wall time later than every test event
        return FAKE_WALL_START_S + clock[0]

    pipeline = Pipeline(config=load_config(), store=store, outbox=outbox or DiscardingOutbox(), metrics=Metrics(),
                        input_kinds=TOPICS, partitions=PARTITIONS,
                        topics=PipelineTopics("rekey", "referral", "cs.health", "cs.health-changes", "cs.alerts",
                                              "cs.dlq"),
                        positions=positions, clock=Clock(monotonic=now, wall=wall),
                        options=PipelineOptions(**{"watermark_idle_s": 0.0, **options}), on_alert=paged.append)
    pipeline.watermark.hold()  # its start-up hold, on the fake clock
    return pipeline


def cancelling_customer(customer: str) -> list[InputRecord]:
    """Records of a customer who signs up with owner ann, cancels on day 5 and gets one outbound
    email on day 9: a cancellation alert and health changes once the days close."""
    key = customer.encode()
    partition = partition_for(key, PARTITIONS)
    bodies = [("cs.accounts", raw("account", 0, customer, owner="ann", segment="smb")),
              ("cs.accounts", raw("account", 5, customer, cancelled_at=at(5))),
              ("cs.interactions", raw("interaction", 9, customer, direction="outbound", channel="email"))]
    return [InputRecord(topic, partition, offset, key, body, {}) for offset, (topic, body) in enumerate(bodies)]


def next_owner(store: MemoryStore, clock: list, partition: int, outbox) -> Pipeline:
    """A worker that gains `partition` of `store` (a restart, or the changelog restored
    elsewhere) and runs its first sweep a minute later."""
    successor = worker(store, [], clock, outbox=outbox)
    successor.restore_partition(partition, store.keys())
    clock[0] += 60
    successor.sweep(partition, None)
    return successor
