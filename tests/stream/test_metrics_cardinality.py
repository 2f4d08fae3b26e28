"""/metrics stays small however many customers the worker holds: no per-customer series.

No Kafka: streams.runtime.pipeline.Pipeline is driven directly with an in-memory store and outbox
over events of N customers (every segment, unknown and free-text segments, every survey
kind incl. employee eNPS, every purchase kind, negative and positive mentions, tickets,
contacts, duplicates, undecodable records), then the worker's gauges are filled by the
real HealthWorker.update_gauges (against a stand-in for the Faust consumer), and the
exposition text of streams.telemetry.metrics.Metrics is counted.

Folding 100,000 customers takes several minutes on a 2-core box (measured: 468 s, giving
405 series, the same as for 1,000 and 10,000 customers, and no customer id), too slow for the suite;
the suite checks that the series count does not grow with the number of customers (1,000
vs 10,000 customers: equal counts, both < 2,000). The 100,000 figure is measured by running
this module as a script:

    .venv/bin/python -m tests.stream.test_metrics_cardinality 100000
"""
from __future__ import annotations

import re
import sys
import time
from types import SimpleNamespace

import orjson
import pytest
from prometheus_client import generate_latest

from handlers.config import load_config
from handlers.timeutil import DAY_MS
from streams.runtime.app import HealthWorker
from streams.telemetry.metrics import Metrics
from streams.runtime.pipeline import Pipeline, PipelineOptions
from streams.runtime.routing import InputRecord, partition_for
from streams.runtime.topics import PipelineTopics
from tests.support.fakes import DiscardingOutbox, MemoryStore

MAX_SERIES = 2000
PARTITIONS = 8  # the worker's default (CSHEALTH_PARTITIONS)
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
INPUT_TOPICS = {"cs.purchases": "purchase", "cs.surveys": "survey", "cs.tickets": "ticket",
                "cs.mentions": "mention", "cs.interactions": "interaction", "cs.accounts": "account"}
TOPIC_OF = {kind: topic for topic, kind in INPUT_TOPICS.items()}
SEGMENTS = ("enterprise", "mid_market", "smb", "startups (free text)", None)
SURVEYS = (("nps", 0), ("nps", 10), ("nps", 8), ("csat", 1), ("csat", 5), ("csat", 3), ("ces", 1), ("ces", 7))
PURCHASE_KINDS = ("new", "repeat", "renewal", "expansion", "contraction", "refund")
CUSTOMER_ID = re.compile(r"cx\d{7}")


class CountingOutbox(DiscardingOutbox):
    def __init__(self) -> None:
        self.sent: dict[str, int] = {}

    def send(self, topic, key, value, headers=None, on_sent=None):
        self.sent[topic] = self.sent.get(topic, 0) + 1
        super().send(topic, key, value, headers, on_sent)


def customer_events(i: int) -> list[tuple[str, dict]]:
    """A few events of customer i over its first days (all kinds rotate across customers)."""
    cid = f"cx{i:07d}"
    day0 = START_MS + (i % 5) * DAY_MS + (i % 997) * 60_000

    def event(topic_kind: str, offset_ms: int, n: int, **fields) -> tuple[str, dict]:
        return topic_kind, {"event_id": f"{cid}-{n}", "customer_id": cid, "occurred_at": day0 + offset_ms, **fields}

    segment = SEGMENTS[i % len(SEGMENTS)]
    account = {"owner": f"rep-{i % 40:02d}", "plan": "pro", "signed_up_at": day0 - 300 * DAY_MS,
               "activated_at": day0 - 290 * DAY_MS}
    if segment is not None:
        account["segment"] = segment
    survey_kind, score = SURVEYS[i % len(SURVEYS)]
    purchase_kind = PURCHASE_KINDS[i % len(PURCHASE_KINDS)]
    out = [
        event("account", 0, 0, **account),
        event("survey", 3_600_000, 1, kind=survey_kind, score=score, touchpoint="relationship"),
        event("purchase", 7_200_000, 2, amount=100.0 + i % 50, currency="EUR", kind=purchase_kind,
              contract_value=1200.0),
        event("mention", DAY_MS + 3_600_000, 3, source="twitter", sentiment=-0.8 if i % 2 else 0.6),
    ]
    if i % 3 == 0:
        out.append(event("ticket", DAY_MS + 7_200_000, 4, ticket_id=f"{cid}-t", status="opened",
                         category="billing", priority="high"))
    if i % 3 == 1:
        out.append(event("interaction", 2 * DAY_MS, 5, direction="inbound", channel="call"))
    if i % 50 == 1:  # one customer in 50 sours on its second day: its band moves (yellow -> red)
        for k in range(6):
            out.append(event("survey", DAY_MS + 3_600_000 + k, 10 + 3 * k, kind="nps", score=0,
                             touchpoint="relationship"))
            out.append(event("survey", DAY_MS + 3_700_000 + k, 11 + 3 * k, kind="csat", score=1,
                             touchpoint="support_ticket"))
            out.append(event("mention", DAY_MS + 3_800_000 + k, 12 + 3 * k, source="twitter", sentiment=-0.9))
        out.append(event("account", DAY_MS + 4_000_000, 40, cancelled_at=day0 + DAY_MS + 4_000_000))
    if i % 50 == 0:  # employees answer the eNPS pulse (the simulator's pseudo customer "employees")
        out.append(("survey", {"event_id": f"{cid}-enps", "customer_id": "employees", "occurred_at": day0 + DAY_MS,
                               "kind": "nps", "score": i % 11, "respondent": "employee"}))
    return out


def build_records(customers: int) -> list[InputRecord]:
    """Input records on the customer's partition, in event-time order; some duplicates and bad ones."""
    events = [e for i in range(customers) for e in customer_events(i)]
    events.sort(key=lambda e: e[1]["occurred_at"])
    offsets: dict[tuple[str, int], int] = {}
    records = []

    def add(topic: str, key: bytes, value: bytes) -> None:
        partition = partition_for(key, PARTITIONS)
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        records.append(InputRecord(topic, partition, offset, key, value, {}))

    for kind, body in events:
        key = body["customer_id"].encode()
        value = orjson.dumps(body)
        add(TOPIC_OF[kind], key, value)
        if body["customer_id"] < "cx0000012":  # re-delivered upstream (every kind): dropped by event_id
            add(TOPIC_OF[kind], key, value)
    for n in range(10):
        add("cs.surveys", b"cx0000000", b"\x00 not json" if n % 2 else b"[1, 2]")
    return records


def fold(customers: int) -> tuple[Metrics, Pipeline, dict]:
    metrics = Metrics()
    store, outbox = MemoryStore(), CountingOutbox()
    pipeline = Pipeline(config=load_config(), store=store, outbox=outbox, metrics=metrics,
                        input_kinds=dict(INPUT_TOPICS), partitions=PARTITIONS,
                        topics=PipelineTopics("app-rekeyed-events", "app-referral-credits", "cs.health",
                                              "cs.health-changes", "cs.alerts", "cs.dlq"),
                        options=PipelineOptions(watermark_idle_s=0.0))
    records = build_records(customers)
    for start in range(0, len(records), 2000):  # the worker's batch size
        pipeline.process_batch(records[start:start + 2000])
    for partition in range(PARTITIONS):  # the sweep timer: close every due tick at the final watermark
        while pipeline.sweep(partition, None):
            pass
    fill_worker_gauges(metrics, pipeline)
    metrics.rebalances.inc()
    metrics.recovery_complete.set(1)
    for outcome in ("ok", "error"):
        metrics.alertmanager_posts.labels(outcome).inc()
    return metrics, pipeline, outbox.sent


def fill_worker_gauges(metrics: Metrics, pipeline: Pipeline) -> None:
    """The real HealthWorker.update_gauges, with every input partition assigned to this worker."""
    from faust.types import TP

    assigned = [TP(t, p) for t in (*INPUT_TOPICS, "app-sweep-ticks") for p in range(PARTITIONS)]
    fake = SimpleNamespace(
        metrics=metrics, pipeline=pipeline, settings=SimpleNamespace(input_topics=INPUT_TOPICS),
        app=SimpleNamespace(assignor=SimpleNamespace(assigned_actives=lambda: assigned)),
        positions=SimpleNamespace(lag=lambda tp: 58), active_partitions=lambda: set(range(PARTITIONS)))
    HealthWorker.update_gauges(fake)


def series_lines(metrics: Metrics) -> list[str]:
    text = generate_latest(metrics.registry).decode()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def label_values(lines: list[str]) -> set[str]:
    return {v for line in lines for v in re.findall(r'="((?:[^"\\]|\\.)*)"', line)}


def measure(customers: int) -> dict:
    started = time.perf_counter()
    metrics, pipeline, sent = fold(customers)
    lines = series_lines(metrics)
    return {"customers": customers, "series": len(lines), "lines": lines, "pipeline": pipeline, "sent": sent,
            "metrics": metrics, "seconds": time.perf_counter() - started}


@pytest.fixture(scope="module")
def measured() -> dict[int, dict]:
    return {n: measure(n) for n in (1_000, 10_000)}


def test_the_fold_really_holds_the_customers(measured):
    for n, m in measured.items():
        customers = {k for keys in m["pipeline"].customers_by_partition.values() for k in keys}
        real = {k for k in customers if k.startswith(b"cx")}
        assert len(real) == n, f"{len(real)} customers in state, expected {n}"
        gauge = sum(float(line.rsplit(" ", 1)[1]) for line in m["lines"] if line.startswith("cshealth_customers{"))
        assert gauge >= n, f"cshealth_customers sums to {gauge}, expected >= {n}"
        assert m["sent"].get("cs.health", 0) >= n and m["sent"].get("cs.dlq") == 10


def test_every_label_family_is_exercised(measured):
    lines = measured[10_000]["lines"]
    text = "\n".join(lines)
    for needle in ('kind="enps"', 'kind="nps"', 'kind="csat"', 'kind="ces"', 'segment="other"',
                   'segment="enterprise"', 'segment="mid_market"', 'segment="smb"',
                   *(f'kind="{k}"' for k in PURCHASE_KINDS), "cshealth_negative_mentions_total{",
                   "cshealth_events_duplicate_total{", "cshealth_dlq_records_total{", "cshealth_consumer_lag{",
                   "cshealth_band_transitions_total{", "cshealth_alerts_total{", "cshealth_customers{",
                   "cshealth_health_score_bucket{"):
        assert needle in text, f"{needle} missing from /metrics: the fold did not exercise it"


def test_series_count_does_not_depend_on_customers(measured):
    small, large = measured[1_000], measured[10_000]
    for m in (small, large):
        assert m["series"] < MAX_SERIES, f"{m['series']} series with {m['customers']} customers (limit {MAX_SERIES})"
    extra = sorted(set(re.sub(r" .*", "", l) for l in large["lines"]) - set(re.sub(r" .*", "", l) for l in small["lines"]))
    assert large["series"] == small["series"], (
        f"{small['series']} series for 1,000 customers but {large['series']} for 10,000; new: {extra[:20]}")


def test_no_customer_id_in_metrics(measured):
    for n, m in measured.items():
        leaked = [line for line in m["lines"] if CUSTOMER_ID.search(line)]
        assert not leaked, f"customer ids in /metrics: {leaked[:5]}"
        ids = {k.decode() for keys in m["pipeline"].customers_by_partition.values() for k in keys}
        assert not label_values(m["lines"]) & ids


def main(argv: list[str]) -> int:
    for n in map(int, argv or ["100000"]):
        m = measure(n)
        leaked = sum(1 for line in m["lines"] if CUSTOMER_ID.search(line))
        print(f"{n} customers: {m['series']} series, {leaked} lines with a customer id, "
              f"{m['seconds']:.0f}s to fold")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
