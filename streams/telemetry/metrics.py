"""Prometheus metrics of the worker. No per-customer label, ever (see DESIGN.md).

Labels are bounded: topic, reason, band, segment, rule, severity, kind, partition.
Counts are additive so that N workers sum up in PromQL; ratios live in recording rules.
"""
from __future__ import annotations

import functools

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SEGMENTS = ("enterprise", "mid_market", "smb")
BANDS = ("green", "yellow", "red", "unknown")


def segment_label(segment: str | None) -> str:
    """Unknown or free-text segments collapse to 'other' to keep the label bounded."""
    return segment if segment in SEGMENTS else "other"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_consumed = Counter("cshealth_events_consumed_total", "Input events read", ["topic"], registry=r)
        self.events_rejected = Counter("cshealth_events_rejected_total", "Input events that failed decoding or validation",
                                       ["topic", "reason"], registry=r)
        self.events_duplicate = Counter("cshealth_events_duplicate_total", "Events dropped as already applied",
                                        ["topic"], registry=r)
        self.events_late = Counter("cshealth_events_late_total", "Events older than the closed evaluation ticks",
                                   ["topic"], registry=r)
        self.dlq_records = Counter("cshealth_dlq_records_total", "Records written to the dead-letter topic",
                                   ["topic"], registry=r)
        self.score_changes = Counter("cshealth_score_changes_total", "Health score changes emitted", ["direction"],
                                     registry=r)
        self.band_transitions = Counter("cshealth_band_transitions_total", "Band changes",
                                        ["from_band", "to_band"], registry=r)
        self.alerts = Counter("cshealth_alerts_total", "Per-customer alert records", ["rule", "severity", "status"],
                              registry=r)
        self.survey_responses = Counter("cshealth_survey_responses_total", "Survey answers by kind and category",
                                        ["kind", "segment", "category"], registry=r)
        self.negative_mentions = Counter("cshealth_negative_mentions_total", "Mentions with sentiment <= -0.05",
                                         ["segment"], registry=r)
        self.revenue = Counter("cshealth_revenue_total", "Purchase amounts by kind", ["segment", "kind"], registry=r)
        self.input_rewinds = Counter(
            "cshealth_input_rewinds_total", "Input partitions read again from a record the consumer skipped "
            "(delivered past it, as around a rebalance's seek)", registry=r)
        self.rebalances = Counter("cshealth_rebalances_total", "Partition rebalances seen by this worker", registry=r)
        self.alertmanager_posts = Counter("cshealth_alertmanager_posts_total", "Posts to Alertmanager", ["outcome"],
                                          registry=r)
        self.alertmanager_pending = Gauge("cshealth_alertmanager_pending_alerts",
                                          "Alerts waiting to be posted to Alertmanager: new, changed, resolved or due "
                                          "for their resend", registry=r)
        self.customers = Gauge("cshealth_customers", "Customers in this worker's partitions by band and segment",
                               ["band", "segment"], registry=r)
        self.consumer_lag = Gauge("cshealth_consumer_lag", "Messages behind the high-water mark",
                                  ["topic", "partition"], registry=r)
        self.assigned_partitions = Gauge("cshealth_assigned_partitions", "Input partitions assigned", registry=r)
        self.recovery_complete = Gauge("cshealth_recovery_complete", "1 once table recovery finished", registry=r)
        self.watermark = Gauge("cshealth_event_time_watermark_seconds", "Newest event time folded", registry=r)
        self.effective_watermark = Gauge(
            "cshealth_event_time_effective_watermark_seconds",
            "Event time that closes days: the slowest input still delivering, with unread records or not heard "
            "from Kafka since its last record", registry=r)
        self.event_age = Histogram("cshealth_event_age_seconds", "Wall clock at processing minus event time",
                                   ["topic"], registry=r,
                                   buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))
        self.processing = Histogram("cshealth_processing_seconds", "Processing time per batch", registry=r,
                                    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.gc_pause = Histogram("cshealth_gc_pause_seconds", "Event-loop pauses of the paced garbage collector: "
                                  "young every 10 s, full (everything thawed) when idle or hourly", ["collection"],
                                  registry=r, buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.health_score = Histogram("cshealth_health_score", "Health scores at each evaluation", ["segment"],
                                      registry=r, buckets=tuple(range(10, 101, 10)))
        # labels() validates and locks on every call; the hot path reuses each label set's child.
        # Not for the gauges that update_gauges clears (a cached child would outlive its series).
        for metric in (self.events_consumed, self.events_rejected, self.events_duplicate, self.events_late,
                       self.dlq_records, self.score_changes, self.band_transitions, self.alerts,
                       self.survey_responses, self.negative_mentions, self.revenue, self.event_age,
                       self.health_score):
            metric.labels = functools.lru_cache(maxsize=None)(metric.labels)

    def preset(self, input_topics: list[str], rule_severities: dict[str, str]) -> None:
        """Create every bounded label set at 0, so rate()/increase() see each series' first increment."""
        from handlers.events import DECODE_REASONS

        segments = (*SEGMENTS, "other")
        for topic in input_topics:
            for counter in (self.events_consumed, self.events_duplicate, self.events_late, self.dlq_records):
                counter.labels(topic)
            for reason in (*DECODE_REASONS, "processing_error"):
                self.events_rejected.labels(topic, reason)
        categories = {"nps": ("promoter", "passive", "detractor"), "csat": ("satisfied", "neutral", "unsatisfied"),
                      "ces": ("low_effort", "neutral", "high_effort")}
        for kind, names in categories.items():
            for segment in segments:
                for category in names:
                    self.survey_responses.labels(kind, segment, category)
        for category in categories["nps"]:
            self.survey_responses.labels("enps", "other", category)
        for segment in segments:
            self.negative_mentions.labels(segment)
            for kind in ("new", "repeat", "renewal", "expansion", "contraction", "refund"):
                self.revenue.labels(segment, kind)
        for rule, severity in rule_severities.items():
            for status in ("firing", "resolved"):
                self.alerts.labels(rule, severity, status)
        for direction in ("up", "down"):
            self.score_changes.labels(direction)
        for outcome in ("ok", "error"):
            self.alertmanager_posts.labels(outcome)
