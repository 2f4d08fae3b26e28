"""The per-batch work of the worker, kept free of Faust so it can be tested and benchmarked alone.

A batch of raw Kafka records is decoded once, bad records go to the dead-letter topic,
records on the wrong partition are re-keyed, and each customer's state is loaded once,
folded, evaluated and written once per batch. Re-delivery is harmless: the state
remembers the last applied offset per source topic-partition, and the domain drops
duplicate event_ids.
"""
from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

import orjson
from aiokafka.partitioner import murmur2

from handlers.alerts import still_firing
from handlers.config import HealthConfig
from handlers.customer import advance, apply, derived_events, due_day, snapshot
from handlers.events import DecodeError, decode, is_employee_survey
from handlers.state import CustomerState
from handlers.timeutil import DAY_MS
from streams.telemetry.metrics import Metrics, segment_label
from streams.telemetry.observations import observe_employee_survey, observe_event, observe_outputs
from streams.runtime.topics import PipelineTopics
from streams.runtime.watermark import IDLE_S, Watermark

log = logging.getLogger("cshealth.pipeline")

# Set CSHEALTH_DEBUG_LATE=1 to log each late event with the watermark's inputs (why was it late?).
DEBUG_LATE = bool(os.environ.get("CSHEALTH_DEBUG_LATE"))
KIND_HEADER = "cshealth-kind"
WATERMARK_KEY_PREFIX = b"\x00watermark:"


@dataclass(slots=True)
class InputRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    origin: Any = None  # the Faust event: the partition context for table writes


class StateStore(Protocol):
    def get(self, key: bytes, origin: Any = None) -> bytes | None: ...
    def put(self, key: bytes, value: bytes, origin: Any) -> None: ...


class Outbox(Protocol):
    def send(self, topic: str, key: bytes | None, value: bytes, headers: dict[str, bytes] | None = None) -> None: ...


# A partition is swept at most this often (when its day or closable tick moved).
SWEEP_MIN_INTERVAL_S = 10.0


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default (murmur2) partitioner, as used by the Java client, aiokafka and Faust."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Pipeline:
    def __init__(self, *, config: HealthConfig, store: StateStore, outbox: Outbox, metrics: Metrics,
                 input_kinds: dict[str, str], partitions: int, topics: PipelineTopics,
                 on_alert: Callable[[dict], None] | None = None, clock: Callable[[], float] = time.time,
                 watermark_idle_s: float = IDLE_S, pending: Callable[[str, int, int | None], int | None] | None = None,
                 assigned_inputs: Callable[[], Iterable[tuple[str, int]]] | None = None,
                 highwater_age: Callable[[str, int], float | None] | None = None,
                 sweep_min_interval_s: float = SWEEP_MIN_INTERVAL_S, sweep_budget_s: float = 0.05,
                 state_cache_size: int = 10_000, backlog_records: int = 2_000,
                 defer_max_s: float = 10.0, deferred_budget_s: float = 0.5) -> None:
        self.config = config
        self.store = store
        self.outbox = outbox
        self.metrics = metrics
        self.input_kinds = input_kinds
        self.partitions = partitions
        self.topics = topics
        self.on_alert = on_alert or (lambda alert: None)
        self.clock = clock
        self.watermark = Watermark(idle_s=watermark_idle_s, pending=pending, assigned=assigned_inputs,
                                   highwater_age=highwater_age)
        self.watermark_ms = 0  # as of the last batch or sweep
        self.customers_by_partition: dict[int, set[bytes]] = defaultdict(set)
        self.bands: dict[bytes, tuple[str, str]] = {}  # customer -> (band, segment), for the gauge
        self._emitted: dict[bytes, int] = {}  # customer -> hash of the last cs.health record sent
        # partition -> ((watermark day, closable day), wall time) of its last sweep
        self._swept: dict[int, tuple[tuple[int, int], float]] = {}
        self.sweep_min_interval_s = sweep_min_interval_s
        self.sweep_budget_s = sweep_budget_s
        # partition -> (customers still to evaluate, page their open alerts again) of a sweep under way
        self._sweeping: dict[int, tuple[list[bytes], bool]] = {}
        self._restored: set[int] = set()  # partitions (re)gained from the table, open alerts not re-paged yet
        # The most recently written states as objects: a customer seen again soon skips the store
        # read and the decoding. Each equals what the store holds (or is it advanced, which a later
        # load would redo); dropped when its customer's processing fails or its partition leaves.
        self._states: OrderedDict[bytes, CustomerState] = OrderedDict()
        self.state_cache_size = state_cache_size
        # Catching up a backlog, a customer's evaluation (close ticks, snapshot, cs.health) waits
        # up to defer_max_s: its further events of the backlog are folded first, and one
        # evaluation serves them all (advance() catches up every due day in one call, so the
        # outputs say the same, later). Folded states are still written every batch. A waiting
        # state is held in memory (no second read and decode for its evaluation); at most
        # state_cache_size wait, customers beyond that are evaluated at once: with many customers
        # each seldom seen, waiting coalesces little and a growing set would only delay outputs.
        self.backlog_records = backlog_records
        self.defer_max_s = defer_max_s
        self.deferred_budget_s = deferred_budget_s
        # customer -> (since, origin, its state or None: reload it), oldest first
        self._deferred: dict[bytes, tuple[float, Any, CustomerState | None]] = {}

    # -- batches -----------------------------------------------------------------------------
    def process_batch(self, records: list[InputRecord]) -> None:
        started = self.clock()
        by_customer: dict[bytes, list[tuple[InputRecord, Any]]] = defaultdict(list)
        for record in records:
            routed = self._decode_and_route(record)
            if routed is not None:
                by_customer[routed[0]].append((record, routed[1]))
        folded = []
        for customer_key, items in by_customer.items():
            state = self._guarded(customer_key, items, self._fold_customer)
            if state is not None:
                folded.append((customer_key, items, state))
        self._read_watermark()
        behind = self.defer_max_s > 0 and self.behind(records)
        for customer_key, items, state in folded:
            wait = behind and (customer_key in self._deferred or len(self._deferred) < self.state_cache_size)
            self._guarded(customer_key, items, self._defer if wait else self._emit_and_store, state)
        self.evaluate_deferred(overdue_only=behind)
        self.metrics.watermark.set(self.watermark.newest() / 1000)
        self.metrics.processing.observe(self.clock() - started)

    def _read_watermark(self) -> None:
        """The event time that closes days as of now, for this batch or sweep (and the gauge)."""
        self.watermark_ms = self.watermark.current()
        self.metrics.effective_watermark.set(self.watermark_ms / 1000)

    def behind(self, records: list[InputRecord]) -> bool:
        """More than backlog_records still unread on the partitions this batch came from."""
        last: dict[tuple[str, int], int] = {}
        for record in records:
            last[(record.topic, record.partition)] = record.offset
        waiting = 0
        for (topic, partition), offset in last.items():
            waiting += self.watermark.pending(topic, partition, offset) or 0
            if waiting > self.backlog_records:
                return True
        return False

    def _defer(self, customer_key: bytes, items: list[tuple[InputRecord, Any]], state: CustomerState) -> None:
        origin = items[-1][0].origin
        self._store(customer_key, state, origin)
        waiting = self._deferred.get(customer_key)  # a key set again keeps its place: oldest first
        self._deferred[customer_key] = (waiting[0] if waiting else self.clock(), origin, state)

    def evaluate_deferred(self, overdue_only: bool = False) -> int:
        """Evaluate deferred customers, oldest first. During a backlog (overdue_only) every one
        that has waited defer_max_s, however long that takes: the evaluation is owed, and a
        budget would let the set grow and the outputs fall ever further behind. Otherwise all of
        them, for at most deferred_budget_s per call (live events wait meanwhile). Returns how many."""
        started = self.clock()
        evaluated = 0
        while self._deferred:
            customer_key, (since, origin, state) = next(iter(self._deferred.items()))
            if overdue_only and started - since < self.defer_max_s:
                break
            if not overdue_only and evaluated and self.clock() - started >= self.deferred_budget_s:
                break
            del self._deferred[customer_key]
            evaluated += 1
            self._reevaluate(customer_key, origin, state=state)
        return evaluated

    def _reevaluate(self, customer_key: bytes, origin: Any, page_again: bool = False,
                    state: CustomerState | None = None) -> None:
        """Evaluate a customer outside a batch of its events (sweep, deferred evaluation): its
        events are folded and stored already, so a failure is logged and the others go on.
        `state`: the one held while it waited, else it is loaded."""
        try:
            if state is None:
                state = self._load(customer_key, origin)
            if self._evaluate_and_emit(customer_key, state):
                self._store(customer_key, state, origin)
            if page_again and state.active:
                self._page_again(state)
        except Exception:
            log.exception("evaluating %r failed", customer_key)
            self._drop_held_state(customer_key)

    def deferred(self) -> int:
        """Customers folded during a backlog and not evaluated yet (readiness detail, bench)."""
        return len(self._deferred)

    def _guarded(self, customer_key: bytes, items: list, step, *args):
        try:
            return step(customer_key, items, *args) or True
        except Exception as exc:  # a bug must not lose the batch: park its records with the reason
            log.exception("processing %d records of %r failed", len(items), customer_key)
            self._drop_held_state(customer_key)  # it may be half folded: the store has the last good one
            failure = DecodeError("processing_error", None, f"{type(exc).__name__}: {exc}")
            for record, _ in items:
                self._dead_letter(record, self._source_topic(record), failure)
            return None

    def _kind_for(self, record: InputRecord) -> str | None:
        kind = self.input_kinds.get(record.topic)
        if kind is None:
            header = record.headers.get(KIND_HEADER)
            kind = header.decode() if header else None
        return kind

    def _decode_and_route(self, record: InputRecord):
        kind = self._kind_for(record)
        source_topic = self._source_topic(record)
        self.metrics.events_consumed.labels(source_topic).inc()
        raw = record.value or b""
        result = decode(raw, kind)
        if isinstance(result, DecodeError):
            self._dead_letter(record, source_topic, result)
            return None
        if is_employee_survey(result):
            observe_employee_survey(self.metrics, result)
            return None
        customer_key = result.customer_id.encode()
        if record.topic in self.input_kinds and (
            record.key != customer_key or record.partition != partition_for(customer_key, self.partitions)
        ):
            # Keyed by something else (or by another partitioner): move it to its customer's partition.
            self.outbox.send(self.topics.rekey, customer_key, raw,
                             {KIND_HEADER: kind.encode(), "cshealth-source-topic": record.topic.encode()})
            return None
        return customer_key, result

    def _source_topic(self, record: InputRecord) -> str:
        source = record.headers.get("cshealth-source-topic")
        return source.decode() if source else record.topic

    def _dead_letter(self, record: InputRecord, source_topic: str, error: DecodeError) -> None:
        headers = {
            "cshealth-reason": error.reason.encode(),
            "cshealth-error": error.message.encode()[:1000],
            "cshealth-source-topic": source_topic.encode(),
            "cshealth-source-partition": str(record.partition).encode(),
            "cshealth-source-offset": str(record.offset).encode(),
        }
        self.outbox.send(self.topics.dlq, record.key, record.value or b"", headers)
        self.metrics.events_rejected.labels(source_topic, error.reason).inc()
        self.metrics.dlq_records.labels(source_topic).inc()

    def _fold_customer(self, customer_key: bytes, items: list[tuple[InputRecord, Any]]) -> CustomerState:
        state = self._load(customer_key, items[-1][0].origin)
        now = self.clock()
        for record, event in items:
            source_topic = self._source_topic(record)
            if record.topic in self.input_kinds:  # replayed records too: they tell how far the input is
                self.watermark.observe(record.topic, record.partition, event.occurred_at_ms, record.offset)
            position = f"{record.topic}:{record.partition}"
            replayed = state.applied_offsets.get(position, -1) >= record.offset
            late_before = state.late
            if not replayed:
                state.applied_offsets[position] = record.offset
                applied = apply(state, event, self.config)
            else:
                applied = False
            if state.late != late_before:
                self.metrics.events_late.labels(source_topic).inc()
                if DEBUG_LATE:
                    log.warning("late %s:%s@%s t=%s cursor=%s wm=%s inputs=%s", record.topic, record.partition,
                                record.offset, event.occurred_at_ms, state.cursor, self.watermark_ms,
                                {f"{t}:{p}": (v[0], round(self.clock() - v[1], 1), v[2]) for (t, p), v in self.watermark.inputs.items()})
            for derived in derived_events(event):
                # Re-sent even for replayed records: the referrer drops it by event_id if it already has it.
                self.outbox.send(self.topics.referral, derived.customer_id.encode(), encode_event(derived),
                                 {KIND_HEADER: derived.kind.encode()})
            if not applied:
                self.metrics.events_duplicate.labels(source_topic).inc()
                continue
            self.metrics.event_age.labels(source_topic).observe(max(0.0, now - event.occurred_at_ms / 1000))
            observe_event(self.metrics, event, state)
        self.customers_by_partition[items[-1][0].partition].add(customer_key)
        return state

    def _emit_and_store(self, customer_key: bytes, items: list[tuple[InputRecord, Any]], state: CustomerState) -> None:
        self._deferred.pop(customer_key, None)
        self._evaluate_and_emit(customer_key, state)
        self._store(customer_key, state, items[-1][0].origin)

    def _load(self, customer_key: bytes, origin: Any = None) -> CustomerState:
        waiting = self._deferred.get(customer_key)
        if waiting is not None and waiting[2] is not None:
            return waiting[2]
        state = self._states.get(customer_key)
        if state is not None:
            self._states.move_to_end(customer_key)
            return state
        raw = self.store.get(customer_key, origin)
        return CustomerState.from_bytes(raw) if raw else CustomerState.new(customer_key.decode())

    def _drop_held_state(self, customer_key: bytes) -> None:
        """Forget the decoded state (cache, deferred evaluation): the next load reads the store."""
        self._states.pop(customer_key, None)
        waiting = self._deferred.get(customer_key)
        if waiting is not None:
            self._deferred[customer_key] = (waiting[0], waiting[1], None)

    def _store(self, customer_key: bytes, state: CustomerState, origin: Any) -> None:
        self.store.put(customer_key, state.to_bytes(), origin)
        if self.state_cache_size:
            self._states[customer_key] = state
            self._states.move_to_end(customer_key)
            if len(self._states) > self.state_cache_size:
                self._states.popitem(last=False)

    def _evaluate_and_emit(self, customer_key: bytes, state: CustomerState) -> bool:
        """Close due ticks and send what changed. True if anything was sent."""
        outputs = advance(state, self.watermark_ms, self.config)
        for change in outputs.health_changes:
            self.outbox.send(self.topics.changes, customer_key, orjson.dumps(change))
        for alert in outputs.alerts:
            self.outbox.send(self.topics.alerts, customer_key, orjson.dumps(alert))
            self.on_alert(alert)
        observe_outputs(self.metrics, outputs)
        health = snapshot(state, self.watermark_ms, self.config)
        # `as_of` moves with every watermark step; re-send only when the content changed.
        as_of = health.pop("as_of")
        content = orjson.dumps(health)  # snapshot builds its keys in a fixed order
        digest = hash(content)
        sent = bool(outputs.health_changes or outputs.alerts)
        if self._emitted.get(customer_key) != digest:
            self._emitted[customer_key] = digest
            self.outbox.send(self.topics.health, customer_key, content[:-1] + b',"as_of":' + orjson.dumps(as_of) + b"}")
            segment = segment_label((health.get("metrics") or {}).get("segment"))
            self.metrics.health_score.labels(segment).observe(health["health"]["score"] or 0)
            self.bands[customer_key] = (health["health"]["band"] or "unknown", segment)
            sent = True
        return sent

    # -- time-driven evaluation ---------------------------------------------------------------
    def sweep(self, partition: int, origin: Any) -> int:
        """Re-evaluate the customers of a partition at the current watermark (silence, window expiry).

        A sweep starts only when the watermark's day or the closable tick moved since the last
        one of the partition, and each call works through it for at most sweep_budget_s (at
        least one customer): a day boundary with 100,000 customers must not hold the event
        loop, and the batches of live events, for a minute. Returns how many were evaluated.
        """
        self._read_watermark()  # it moves without batches too (quiet inputs let go)
        if self.watermark_ms == 0:
            return 0
        pending = self._sweeping.get(partition)
        if pending is None:
            position = (self.watermark_ms // DAY_MS, due_day(self.watermark_ms, self.config))
            last_position, last_wall = self._swept.get(partition, (None, float("-inf")))
            # advance() catches up every due day in one call, so sweeping less often changes only
            # when outputs go out, not what they say: during a backlog the day moves every batch,
            # and a sweep per day of every customer would dominate the work.
            if last_position == position or self.clock() - last_wall < self.sweep_min_interval_s:
                return 0
            self._swept[partition] = (position, self.clock())
            newly_owned = partition in self._restored
            self._restored.discard(partition)
            pending = self._sweeping[partition] = (list(self.customers_by_partition.get(partition, ())), newly_owned)
        keys, newly_owned = pending
        started, evaluated = self.clock(), 0
        while keys and (evaluated == 0 or self.clock() - started < self.sweep_budget_s):
            customer_key = keys.pop()
            evaluated += 1
            waiting = self._deferred.pop(customer_key, None)  # evaluated here
            self._reevaluate(customer_key, origin, page_again=newly_owned, state=waiting[2] if waiting else None)
        if not keys:
            del self._sweeping[partition]
            self.store.put(WATERMARK_KEY_PREFIX + str(partition).encode(), str(self.watermark_ms).encode(), origin)
        return evaluated

    def sweep_pending(self) -> int:
        """Customers a sweep under way has still to evaluate (readiness detail, bench)."""
        return sum(len(keys) for keys, _ in self._sweeping.values())

    def _page_again(self, state: CustomerState) -> None:
        """After a restart or a rebalance the pager's memory of open alerts is gone (the old
        worker re-posted them); the state still has them, so the new owner posts them again."""
        health = snapshot(state, self.watermark_ms, self.config)["health"]
        for alert in still_firing(state, health, self.config):
            self.on_alert(alert)

    def restore_partition(self, partition: int, keys: Iterable[bytes]) -> None:
        """After recovery: learn which customers live on a newly assigned partition, and its watermark."""
        customers = self.customers_by_partition[partition]
        for key in keys:
            if key.startswith(WATERMARK_KEY_PREFIX):
                continue
            if partition_for(key, self.partitions) == partition:
                customers.add(key)
                self._drop_held_state(key)  # the table's recovered state is the one to use
        raw = self.store.get(WATERMARK_KEY_PREFIX + str(partition).encode())
        if raw:
            self.watermark.restore(int(raw))
        self.watermark.hold()
        self._restored.add(partition)

    def forget_partition(self, partition: int) -> None:
        self.watermark.forget({partition})
        self.watermark.hold()
        for key in self.customers_by_partition.pop(partition, set()):
            self.bands.pop(key, None)
            self._emitted.pop(key, None)
            self._states.pop(key, None)  # another worker may change it before the partition returns
            self._deferred.pop(key, None)  # the new owner sweeps every customer it gains
        self._swept.pop(partition, None)
        self._sweeping.pop(partition, None)
        self._restored.discard(partition)

    def view(self, customer_key: bytes) -> dict | None:
        """The customer's health as of the watermark, without changing state (HTTP view)."""
        raw = self.store.get(customer_key)
        if not raw:
            return None
        state = CustomerState.from_bytes(raw)
        watermark = self.watermark.current()
        advance(state, watermark, self.config)  # on a copy: nothing is written back
        return snapshot(state, watermark, self.config)


def encode_event(event) -> bytes:
    """A (derived) event as contract JSON, decodable by handlers.events.decode with its kind."""
    return orjson.dumps(event.model_dump(by_alias=True, exclude_none=True))
