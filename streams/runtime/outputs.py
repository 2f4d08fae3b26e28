"""A customer's evaluation and what it sends: health changes, alerts, and cs.health when its
content changed (duplicate-suppressed), plus the metrics and the pager hand-off."""
from __future__ import annotations

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
        self.bands: dict[bytes, tuple[str, str]] = {}  # customer -> (band, segment), for the gauge
        self._sent_digest: dict[bytes, int] = {}  # customer -> hash of the last cs.health record sent

    def evaluate(self, customer_key: bytes, state: CustomerState, watermark_ms: int) -> bool:
        """Close due ticks and send what changed. True if anything was sent."""
        outputs = advance(state, watermark_ms, self.config)
        for change in outputs.health_changes:
            self.outbox.send(self.topics.changes, customer_key, orjson.dumps(change))
        for alert in outputs.alerts:
            self.outbox.send(self.topics.alerts, customer_key, orjson.dumps(alert))
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
            self.bands[customer_key] = (health["health"]["band"] or "unknown", segment)
            sent = True
        return sent

    def page_again(self, state: CustomerState, watermark_ms: int) -> None:
        """After a restart or a rebalance the pager's memory of open alerts is gone (the old
        worker re-posted them); the state still has them, so the new owner posts them again."""
        health = snapshot(state, watermark_ms, self.config)["health"]
        for alert in still_firing(state, health, self.config):
            self.on_alert(alert)

    def forget(self, customer_keys: Iterable[bytes]) -> None:
        for customer_key in customer_keys:
            self.bands.pop(customer_key, None)
            self._sent_digest.pop(customer_key, None)
