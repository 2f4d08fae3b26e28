"""Where each raw input record goes: folded for its customer, re-keyed to its customer's
partition, counted as an employee survey, or dead-lettered with its reason."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import orjson
from aiokafka.partitioner import murmur2

from handlers.events import MAX_CLOCK_SKEW_MS, DecodeError, Event, decode, is_employee_survey
from streams.runtime.rekey_hold import REKEY_HOLD_HEADER, RekeyHold
from streams.runtime.topics import PipelineTopics
from streams.telemetry.metrics import Metrics
from streams.telemetry.observations import observe_employee_survey

log = logging.getLogger("cshealth.routing")

KIND_HEADER = "cshealth-kind"
SOURCE_TOPIC_HEADER = "cshealth-source-topic"


@dataclass(slots=True)
class InputRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    origin: Any = None  # the Faust event: the partition context for table writes


class Outbox(Protocol):
    def send(self, topic: str, key: bytes | None, value: bytes, headers: dict[str, bytes] | None = None,
             on_sent: Callable[[Any], None] | None = None) -> None:
        """Queue a record; on_sent(future) runs when Kafka acknowledged it or the send failed
        (without on_sent, a failure stops the worker)."""

    def note_failure(self, future: Any) -> None:
        """A send whose on_sent saw it fail: stops the worker."""


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default (murmur2) partitioner, as used by the Java client, aiokafka and Faust."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def encode_event(event) -> bytes:
    """A (derived) event as contract JSON, decodable by handlers.events.decode with its kind."""
    return orjson.dumps(event.model_dump(by_alias=True, exclude_none=True))


def source_topic(record: InputRecord) -> str:
    """The input topic a record came from first (re-keyed records name it in a header)."""
    source = record.headers.get(SOURCE_TOPIC_HEADER)
    return source.decode("utf-8", "replace") if source else record.topic


class Router:
    def __init__(self, *, input_kinds: dict[str, str], partitions: int, topics: PipelineTopics,
                 outbox: Outbox, metrics: Metrics, rekey_hold: RekeyHold,
                 now_ms: Callable[[], int] | None = None, max_skew_ms: int = MAX_CLOCK_SKEW_MS) -> None:
        """now_ms(): the wall clock an event may not be further ahead of than max_skew_ms
        (None: no check); rekey_hold: holds event time for records on their way to their
        customer's partition."""
        self.rekey_hold = rekey_hold
        self.now_ms = now_ms
        self.max_skew_ms = max_skew_ms
        self.input_kinds = input_kinds
        self.partitions = partitions
        self.topics = topics
        self.outbox = outbox
        self.metrics = metrics

    def topic_label(self, record: InputRecord) -> str:
        """The record's input topic as a metric label: a re-keyed record names it in a header any
        producer can set, so a name that is not a configured input topic counts as "other"."""
        source = source_topic(record)
        return source if source in self.input_kinds else "other"

    def is_input(self, record: InputRecord) -> bool:
        return record.topic in self.input_kinds

    def _kind_for(self, record: InputRecord) -> str | None:
        kind = self.input_kinds.get(record.topic)
        if kind is None:
            header = record.headers.get(KIND_HEADER)
            kind = header.decode("utf-8", "replace") if header else None
        return kind

    def route(self, record: InputRecord) -> tuple[bytes, Event] | None:
        """(customer key, event) to fold here; None when the record went elsewhere. Never raises:
        whatever a record carries, it is routed or dead-lettered, and its batch goes on."""
        try:
            return self._route(record)
        except Exception as exc:
            log.exception("routing %s:%s@%s failed", record.topic, record.partition, record.offset)
            self.dead_letter(record, DecodeError("processing_error", None, f"{type(exc).__name__}: {exc}"))
            return None

    def _route(self, record: InputRecord) -> tuple[bytes, Event] | None:
        kind = self._kind_for(record)
        self.metrics.events_consumed.labels(self.topic_label(record)).inc()
        raw = record.value or b""
        result = decode(raw, kind, self.now_ms() if self.now_ms else None, self.max_skew_ms)
        if isinstance(result, DecodeError):
            self.dead_letter(record, result)
            return None
        if is_employee_survey(result):
            observe_employee_survey(self.metrics, result)
            return None
        customer_key = result.customer_id.encode()
        partition = partition_for(customer_key, self.partitions)
        if self.is_input(record) and (record.key != customer_key or record.partition != partition):
            # Keyed by something else (or by another partitioner): move it to its customer's partition.
            self._rekey(record, kind, customer_key, raw, result.occurred_at_ms, partition)
            return None
        return customer_key, result

    def _rekey(self, record: InputRecord, kind: str, customer_key: bytes, raw: bytes, event_ms: int,
               partition: int) -> None:
        token = self.rekey_hold.hold(event_ms, partition)

        def sent(future) -> None:
            if future.cancelled() or future.exception() is not None:
                self.outbox.note_failure(future)
            else:
                self.rekey_hold.acknowledged(token)

        self.outbox.send(self.topics.rekey, customer_key, raw,
                         {KIND_HEADER: kind.encode(), SOURCE_TOPIC_HEADER: record.topic.encode(),
                          REKEY_HOLD_HEADER: token}, on_sent=sent)

    def read_back(self, record: InputRecord) -> None:
        """A record read from the re-key topic ends its hold on event time."""
        if record.topic == self.topics.rekey:
            self.rekey_hold.read(record.partition, record.offset, record.headers.get(REKEY_HOLD_HEADER))

    def dead_letter(self, record: InputRecord, error: DecodeError) -> None:
        source = source_topic(record)
        headers = {
            "cshealth-reason": error.reason.encode(),
            "cshealth-error": error.message.encode()[:1000],
            SOURCE_TOPIC_HEADER: source.encode(),
            "cshealth-source-partition": str(record.partition).encode(),
            "cshealth-source-offset": str(record.offset).encode(),
        }
        self.outbox.send(self.topics.dlq, record.key, record.value or b"", headers)
        label = self.topic_label(record)
        self.metrics.events_rejected.labels(label, error.reason).inc()
        self.metrics.dlq_records.labels(label).inc()

    def send_derived(self, derived: Event) -> None:
        """A derived event (a referral credit) goes to its own customer's partition."""
        self.outbox.send(self.topics.referral, derived.customer_id.encode(), encode_event(derived),
                         {KIND_HEADER: derived.kind.encode()})
