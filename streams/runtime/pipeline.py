"""The per-batch work of the worker, kept free of Faust so it can be tested and benchmarked alone.

A batch of raw Kafka records is routed (decoded once; bad records dead-lettered, records on
the wrong partition re-keyed), and each customer's state is loaded once, folded, evaluated and
written once per batch. Re-delivery is harmless: the state remembers the last applied offset
per source topic-partition, and the domain drops duplicate event_ids.

Pipeline is the service that sequences its collaborators: the Router, the StateCache, the
Deferral of evaluations during a backlog, the SweepSchedule of time-driven evaluations, the
OutputWriter, and the Watermark that closes days. They share one Clock.
"""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import orjson

from handlers.config import HealthConfig
from handlers.customer import advance, apply, derived_events, snapshot
from handlers.events import DecodeError
from handlers.state import CustomerState
from streams.runtime.clock import SYSTEM_CLOCK, Clock
from streams.runtime.deferral import Deferral
from streams.runtime.outputs import OutputWriter
from streams.runtime.positions import KafkaPositions, UnknownPositions
from streams.runtime.rekey_hold import RekeyHold
from streams.runtime.routing import InputRecord, Outbox, Router, partition_for
from streams.runtime.state_cache import StateCache, StateStore
from streams.runtime.sweep import SWEEP_MIN_INTERVAL_S, SweepSchedule
from streams.runtime.topics import PipelineTopics
from streams.runtime.watermark import IDLE_S, Watermark
from streams.telemetry.metrics import Metrics
from streams.telemetry.observations import observe_event

log = logging.getLogger("cshealth.pipeline")

# Set CSHEALTH_DEBUG_LATE=1 to log each late event with the watermark's inputs (why was it late?).
DEBUG_LATE = bool(os.environ.get("CSHEALTH_DEBUG_LATE"))
WATERMARK_KEY_PREFIX = b"\x00watermark:"
# Per table partition: its inputs' newest event time and last offset read, written with every
# batch's states, so a process that gains the partition knows the event time of records it will
# not read again.
READ_POSITIONS_KEY_PREFIX = b"\x00inputs:"
INTERNAL_KEY_PREFIX = b"\x00"  # no valid customer id starts with a control character


@dataclass(frozen=True)
class PipelineOptions:
    watermark_idle_s: float = IDLE_S
    sweep_min_interval_s: float = SWEEP_MIN_INTERVAL_S
    sweep_budget_s: float = 0.05  # per sweep call while input flows: a day boundary never holds the loop longer
    # With no input folded for sweep_idle_after_s, a batch of ticks sweeps for sweep_idle_budget_s
    # in all: nobody waits, so a day boundary takes its CPU time, not twenty times it.
    sweep_idle_after_s: float = 1.0
    sweep_idle_budget_s: float = 0.9
    state_cache_size: int = 10_000  # decoded states kept; also the most customers a backlog defers
    backlog_records: int = 2_000  # unread records behind a batch that count as a backlog
    defer_max_s: float = 10.0  # how long a customer's evaluation may wait in a backlog (0: never)
    deferred_budget_s: float = 0.5  # caught up, evaluating what waited paces itself by this
    max_clock_skew_s: float = 3600.0  # events further ahead of the wall clock are dead-lettered


class Pipeline:
    def __init__(self, *, config: HealthConfig, store: StateStore, outbox: Outbox, metrics: Metrics,
                 input_kinds: dict[str, str], partitions: int, topics: PipelineTopics,
                 positions: KafkaPositions | None = None, clock: Clock = SYSTEM_CLOCK,
                 options: PipelineOptions = PipelineOptions(),
                 on_alert: Callable[[dict], None] | None = None) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.partitions = partitions
        self.clock = clock
        self.options = options
        positions = positions or UnknownPositions()
        rekey_hold = RekeyHold(topics.rekey, positions)
        self.router = Router(input_kinds=input_kinds, partitions=partitions, topics=topics, outbox=outbox,
                             metrics=metrics, rekey_hold=rekey_hold, now_ms=self.wall_ms,
                             max_skew_ms=int(options.max_clock_skew_s * 1000))
        self.states = StateCache(store, options.state_cache_size)
        self.deferral = Deferral(max_wait_s=options.defer_max_s, capacity=options.state_cache_size,
                                 budget_s=options.deferred_budget_s, clock=clock.monotonic)
        self.sweeps = SweepSchedule(config=config, clock=clock.monotonic,
                                    min_interval_s=options.sweep_min_interval_s)
        self.outputs = OutputWriter(config=config, outbox=outbox, topics=topics, metrics=metrics, on_alert=on_alert)
        self.watermark = Watermark(idle_s=options.watermark_idle_s, clock=clock.monotonic, positions=positions,
                                   ceiling=lambda: self.wall_ms() + int(options.max_clock_skew_s * 1000),
                                   rekey_hold=rekey_hold)
        self.watermark_ms = 0  # as of the last batch or sweep
        self._input_at = float("-inf")  # clock.monotonic() when input was last folded

    def wall_ms(self) -> int:
        return int(self.clock.wall() * 1000)

    # -- batches -----------------------------------------------------------------------------
    def process_batch(self, records: list[InputRecord]) -> None:
        started = self._input_at = self.clock.monotonic()
        by_customer: dict[bytes, list[tuple[InputRecord, Any]]] = defaultdict(list)
        for record in records:
            self.router.read_back(record)
            routed = self.router.route(record)
            if routed is not None:
                by_customer[routed[0]].append((record, routed[1]))
            else:
                self._read_unfolded(record)
        folded = []
        for customer_key, items in by_customer.items():
            state = self._guarded(customer_key, items, self._fold_customer)
            if state is not None:
                folded.append((customer_key, items, state))
        self._save_read_positions(records)
        self._read_watermark()
        behind = self.deferral.enabled and self.behind(records)
        for customer_key, items, state in folded:
            wait = behind and self.deferral.has_room_for(customer_key)
            self._guarded(customer_key, items, self._defer if wait else self._evaluate_and_store, state)
        self.evaluate_deferred(overdue_only=behind)
        self.metrics.watermark.set(self.watermark.newest() / 1000)
        self.metrics.processing.observe(self.clock.monotonic() - started)

    def _save_read_positions(self, records: list[InputRecord]) -> None:
        origins = {}
        for record in records:
            if self.router.is_input(record) and record.partition < self.partitions:
                origins[record.partition] = record.origin
        for partition, origin in origins.items():
            positions = self.watermark.read_positions(partition)
            if positions:
                self.store.put(READ_POSITIONS_KEY_PREFIX + str(partition).encode(), orjson.dumps(positions), origin)

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
            if waiting > self.options.backlog_records:
                return True
        return False

    def _guarded(self, customer_key: bytes, items: list, step, *args):
        try:
            return step(customer_key, items, *args) or True
        except Exception as exc:  # a bug must not lose the batch: park its records with the reason
            log.exception("processing %d records of %r failed", len(items), customer_key)
            self._drop_held_state(customer_key)  # it may be half folded: the store has the last good one
            failure = DecodeError("processing_error", None, f"{type(exc).__name__}: {exc}")
            for record, _ in items:
                self.router.dead_letter(record, failure)
                self._read_unfolded(record)
            return None

    def _read_unfolded(self, record: InputRecord) -> None:
        """A record read but not folded still moves its input's position in the watermark."""
        if self.router.is_input(record):
            self.watermark.observe(record.topic, record.partition, None, record.offset)

    def _fold_customer(self, customer_key: bytes, items: list[tuple[InputRecord, Any]]) -> CustomerState:
        state = self._load(customer_key, items[-1][0].origin)
        now = self.clock.wall()
        for record, event in items:
            source = self.router.topic_label(record)
            if self.router.is_input(record):  # replayed records too: they tell how far the input is
                self.watermark.observe(record.topic, record.partition, event.occurred_at_ms, record.offset)
            position = f"{record.topic}:{record.partition}"
            replayed = state.applied_offsets.get(position, -1) >= record.offset
            late_before = state.late
            if not replayed:
                state.applied_offsets[position] = record.offset
                applied = apply(state, event, self.config)
                if applied:
                    self.outputs.folded(customer_key)
            else:
                applied = False
            if state.late != late_before:
                self.metrics.events_late.labels(source).inc()
                if DEBUG_LATE:
                    log.warning("late %s:%s@%s t=%s cursor=%s wm=%s inputs=%s", record.topic, record.partition,
                                record.offset, event.occurred_at_ms, state.cursor, self.watermark_ms,
                                {f"{t}:{p}": (v[0], round(self.clock.monotonic() - v[1], 1), v[2])
                                 for (t, p), v in self.watermark.inputs.items()})
            for derived in derived_events(event):
                # Re-sent even for replayed records: the referrer drops it by event_id if it already has it.
                self.router.send_derived(derived)
            if not applied:
                self.metrics.events_duplicate.labels(source).inc()
                continue
            self.metrics.event_age.labels(source).observe(max(0.0, now - event.occurred_at_ms / 1000))
            observe_event(self.metrics, event, state)
        self.sweeps.add_customer(items[-1][0].partition, customer_key)
        return state

    def _save(self, customer_key: bytes, state: CustomerState, origin: Any) -> None:
        self.outputs.settle(state)
        self.states.save(customer_key, state, origin)

    def _defer(self, customer_key: bytes, items: list[tuple[InputRecord, Any]], state: CustomerState) -> None:
        origin = items[-1][0].origin
        self._save(customer_key, state, origin)
        self.deferral.defer(customer_key, origin, state)

    def _evaluate_and_store(self, customer_key: bytes, items: list[tuple[InputRecord, Any]],
                            state: CustomerState) -> None:
        self.deferral.take(customer_key)
        self.outputs.evaluate(customer_key, state, self.watermark_ms)
        self._save(customer_key, state, items[-1][0].origin)

    def evaluate_deferred(self, overdue_only: bool = False) -> int:
        """Evaluate customers whose evaluation waited during a backlog (see Deferral.due). Returns how many."""
        evaluated = 0
        for customer_key, origin, state in self.deferral.due(overdue_only):
            evaluated += 1
            self._reevaluate(customer_key, origin, state=state)
        return evaluated

    def deferred_count(self) -> int:
        """Customers folded during a backlog and not evaluated yet (readiness detail, bench)."""
        return len(self.deferral)

    def _reevaluate(self, customer_key: bytes, origin: Any, page_again: bool = False,
                    state: CustomerState | None = None) -> None:
        """Evaluate a customer outside a batch of its events (sweep, deferred evaluation): its
        events are folded and stored already, so a failure is logged and the others go on.
        `state`: the one held while it waited, else it is loaded."""
        try:
            if state is None:
                state = self._load(customer_key, origin)
            if page_again:
                self.outputs.resend_undelivered(customer_key, state)
            sent = self.outputs.evaluate(customer_key, state, self.watermark_ms)
            if self.outputs.settle(state) or sent:
                self.states.save(customer_key, state, origin)
            if page_again and state.active:
                self.outputs.page_again(state, self.watermark_ms)
        except Exception:
            log.exception("evaluating %r failed", customer_key)
            self._drop_held_state(customer_key)

    def _load(self, customer_key: bytes, origin: Any = None) -> CustomerState:
        held = self.deferral.held_state(customer_key)
        return held if held is not None else self.states.load(customer_key, origin)

    def _drop_held_state(self, customer_key: bytes) -> None:
        """Forget the decoded state (cache, deferred evaluation): the next load reads the store."""
        self.states.drop((customer_key,))
        self.deferral.forget_state(customer_key)
        self.outputs.folded(customer_key)

    # -- time-driven evaluation ---------------------------------------------------------------
    def _idle(self) -> bool:
        """No input folded for sweep_idle_after_s."""
        return self.clock.monotonic() - self._input_at >= self.options.sweep_idle_after_s

    def sweep_slice_s(self, ticks: int) -> float:
        """How long each of a batch's `ticks` sweeps may run: the sweep budget while input flows,
        a share of the idle budget when none was folded for a while."""
        if not self._idle():
            return self.options.sweep_budget_s
        return max(self.options.sweep_budget_s, self.options.sweep_idle_budget_s / max(1, ticks))

    def sweep(self, partition: int, origin: Any, budget_s: float | None = None) -> int:
        """Re-evaluate the customers of a partition at the current watermark (silence, window
        expiry), for at most `budget_s` (options.sweep_budget_s if None; see SweepSchedule and
        sweep_slice_s), evaluating at least one. Returns how many were evaluated."""
        self._read_watermark()  # it moves without batches too (quiet inputs let go)
        if self.watermark_ms == 0:
            return 0
        pending = self.sweeps.under_way(partition, self.watermark_ms, idle=self._idle())
        if pending is None:
            return 0
        keys, newly_owned = pending
        started, evaluated = self.clock.monotonic(), 0
        budget_s = self.options.sweep_budget_s if budget_s is None else budget_s
        while keys and (evaluated == 0 or self.clock.monotonic() - started < budget_s):
            customer_key = keys.pop()
            evaluated += 1
            waiting = self.deferral.take(customer_key)  # evaluated here
            self._reevaluate(customer_key, origin, page_again=newly_owned, state=waiting[1] if waiting else None)
        if not keys:
            self.sweeps.finish(partition, self.watermark_ms)
            self.store.put(WATERMARK_KEY_PREFIX + str(partition).encode(), str(self.watermark_ms).encode(), origin)
        return evaluated

    def sweep_pending(self) -> int:
        """Customers a sweep under way has still to evaluate (readiness detail, bench)."""
        return self.sweeps.pending()

    def swept_through_ms(self) -> int:
        """The event time every customer has been re-evaluated at by a sweep (readiness detail, bench)."""
        return self.sweeps.swept_through_ms()

    # -- partitions ---------------------------------------------------------------------------
    def restore_partition(self, partition: int, keys: Iterable[bytes]) -> None:
        """After recovery: learn which customers live on a newly assigned partition, and its watermark."""
        customers = self.sweeps.restored(partition)
        for key in keys:
            if key.startswith(INTERNAL_KEY_PREFIX):
                continue
            if partition_for(key, self.partitions) == partition:
                customers.add(key)
                self._drop_held_state(key)  # the table's recovered state is the one to use
        raw = self.store.get(WATERMARK_KEY_PREFIX + str(partition).encode())
        if raw:
            self.watermark.restore(int(raw))
        positions = self.store.get(READ_POSITIONS_KEY_PREFIX + str(partition).encode())
        if positions:
            self.watermark.restore_positions(partition, orjson.loads(positions))
        self.watermark.hold()

    def forget_partition(self, partition: int) -> None:
        self.watermark.forget({partition})
        self.watermark.hold()
        customers = self.sweeps.forget(partition)
        self.outputs.forget(customers)
        self.states.drop(customers)  # another worker may change them before the partition returns
        for key in customers:
            self.deferral.take(key)  # the new owner sweeps every customer it gains

    # -- reading ------------------------------------------------------------------------------
    def view(self, customer_key: bytes) -> dict | None:
        """The customer's health as of the watermark, without changing state (HTTP view)."""
        raw = self.store.get(customer_key)
        if not raw:
            return None
        state = CustomerState.from_bytes(raw)
        watermark = self.watermark.current()
        advance(state, watermark, self.config)  # on a copy: nothing is written back
        return snapshot(state, watermark, self.config)

    @property
    def band_counts(self) -> dict[tuple[str, str], int]:
        """Customers by (band, segment) of their latest cs.health record (the gauge)."""
        return self.outputs.band_counts

    @property
    def customers_by_partition(self) -> dict[int, set[bytes]]:
        return self.sweeps.customers_by_partition
