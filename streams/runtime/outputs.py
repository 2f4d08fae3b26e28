"""A customer's evaluation and what it sends: health changes, alerts, and cs.health when its
content changed (duplicate-suppressed), plus the metrics and the pager hand-off."""
from __future__ import annotations

import functools
from collections import Counter
from typing import Callable, Iterable

import orjson

from handlers.alerts import still_firing
from handlers.config import HealthConfig
from handlers.customer import advance, snapshot
from handlers.state import CustomerState
from streams.runtime.routing import Outbox
from streams.runtime.topics import PipelineTopics
from streams.telemetry.metrics import Metrics, segment_label
from streams.telemetry.observations import observe_outputs


class OutputWriter:
    def __init__(self, *, config: HealthConfig, outbox: Outbox, topics: PipelineTopics, metrics: Metrics,
                 on_alert: Callable[[dict], None] | None = None) -> None:
        self.config = config
        self.outbox = outbox
        self.topics = topics
        self.metrics = metrics
        self.on_alert = on_alert or (lambda alert: None)
        self.bands: dict[bytes, tuple[str, str]] = {}  # customer -> (band, segment)
        # (band, segment) -> customers, kept as bands change: the gauge reads it every second, and
        # counting 100,000 customers' bands anew took a tenth of a live worker's main thread
        self.band_counts: Counter[tuple[str, str]] = Counter()
        self._sent_digest: dict[bytes, int] = {}  # customer -> hash of the last cs.health record sent
        # customer -> ids of its kept outputs Kafka acknowledged, not yet dropped from its state
        self._confirmed: dict[bytes, set[str]] = {}
        # customer -> advance()'s quiet mark for its state (the days ahead whose ticks change nothing),
        # while no event was folded into it: a sweep then moves its cursor without evaluating a tick
        self._quiet: dict[bytes, tuple[int, int]] = {}

    def evaluate(self, customer_key: bytes, state: CustomerState, watermark_ms: int) -> bool:
        """Close due ticks and send what changed. True if anything was sent."""
        outputs = advance(state, watermark_ms, self.config, quiet=self._quiet.get(customer_key), look_ahead=True)
        if outputs.quiet is not None:
            self._quiet[customer_key] = outputs.quiet
        else:
            self._quiet.pop(customer_key, None)
        for change in outputs.health_changes:
            self._send_kept(customer_key, state, change["change_id"], "changes", change)
        for alert in outputs.alerts:
            self._send_kept(customer_key, state, f"{alert['alert_id']}:{alert['status']}", "alerts", alert)
            self.on_alert(alert)
        observe_outputs(self.metrics, outputs)
        health = snapshot(state, watermark_ms, self.config)
        # `as_of` moves with every watermark step; re-send only when the content changed.
        as_of = health.pop("as_of")
        content = orjson.dumps(health)  # snapshot builds its keys in a fixed order
        digest = hash(content)
        sent = bool(outputs.health_changes or outputs.alerts)
        if self._sent_digest.get(customer_key) != digest:
            self._sent_digest[customer_key] = digest
            self.outbox.send(self.topics.health, customer_key, content[:-1] + b',"as_of":' + orjson.dumps(as_of) + b"}")
            segment = segment_label((health.get("metrics") or {}).get("segment"))
            self.metrics.health_score.labels(segment).observe(health["health"]["score"] or 0)
            self._set_band(customer_key, (health["health"]["band"] or "unknown", segment))
            sent = True
        return sent

    def _set_band(self, customer_key: bytes, band: tuple[str, str] | None) -> None:
        before = self.bands.pop(customer_key, None) if band is None else self.bands.get(customer_key)
        if before == band:
            return
        if before is not None:
            self.band_counts[before] -= 1
            if not self.band_counts[before]:
                del self.band_counts[before]
        if band is not None:
            self.bands[customer_key] = band
            self.band_counts[band] += 1

    # -- outputs kept with the state until Kafka confirmed them --------------------------------
    # A health change or alert is recorded in the state that produced it (written in the same
    # batch) and dropped from it at a later write once Kafka acknowledged it. A worker that
    # gains the state (restart on the same or a fresh state dir, rebalance) sends what is still
    # recorded again: consumers may see a record twice, always with the same id and content,
    # but never miss one that was queued when a worker died.
    def _send_kept(self, customer_key: bytes, state: CustomerState, output_id: str, role: str, record: dict) -> None:
        state.undelivered.append([output_id, role, record])
        self._send(customer_key, output_id, role, record)

    def _send(self, customer_key: bytes, output_id: str, role: str, record: dict) -> None:
        # Sorted keys: a record sent again from the state (stored sorted) is the same bytes.
        self.outbox.send(getattr(self.topics, role), customer_key, orjson.dumps(record, option=orjson.OPT_SORT_KEYS),
                         on_sent=functools.partial(self._acknowledged, customer_key, output_id))

    def _acknowledged(self, customer_key: bytes, output_id: str, future) -> None:
        if future.cancelled() or future.exception() is not None:
            self.outbox.note_failure(future)
            return
        self._confirmed.setdefault(customer_key, set()).add(output_id)

    def settle(self, state: CustomerState) -> bool:
        """Drop the outputs Kafka confirmed from the state about to be written. True if any was."""
        confirmed = self._confirmed.pop(state.customer_id.encode(), None)
        if not state.undelivered or not confirmed:
            return False
        kept = [entry for entry in state.undelivered if entry[0] not in confirmed]
        if len(kept) == len(state.undelivered):
            return False
        state.undelivered = kept
        return True

    def folded(self, customer_key: bytes) -> None:
        """An event was folded into the customer's state (or its state is read again from the
        store): the days its quiet mark promised quiet are unknown again."""
        self._quiet.pop(customer_key, None)

    def resend_undelivered(self, customer_key: bytes, state: CustomerState) -> None:
        """A state gained from the table: what it records as unconfirmed may never have reached
        Kafka. What Kafka acknowledged to this worker since it gained the state (folded before the
        partition's first sweep, not yet dropped from the state) is not sent again."""
        confirmed = self._confirmed.get(customer_key, ())
        for output_id, role, record in state.undelivered:
            if output_id not in confirmed:
                self._send(customer_key, output_id, role, record)

    def page_again(self, state: CustomerState, watermark_ms: int) -> None:
        """After a restart or a rebalance the pager's memory of open alerts is gone (the old
        worker re-posted them); the state still has them, so the new owner posts them again."""
        health = snapshot(state, watermark_ms, self.config)["health"]
        for alert in still_firing(state, health, self.config):
            self.on_alert(alert)

    def forget(self, customer_keys: Iterable[bytes]) -> None:
        for customer_key in customer_keys:
            self._set_band(customer_key, None)
            self._sent_digest.pop(customer_key, None)
            self._confirmed.pop(customer_key, None)  # the state's next owner sends its kept outputs again
            self._quiet.pop(customer_key, None)
