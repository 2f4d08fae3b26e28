"""The `topic` label of the worker's metrics only takes the configured input topic names: the
source-topic header of a re-keyed record is set by whoever produced it, so a name that is no
configured input is counted as `other` (a producer must not be able to mint series)."""
from __future__ import annotations

from datetime import datetime, timezone

from prometheus_client import generate_latest

from streams.kafka.producer import encode_for_kafka
from streams.runtime.positions import UnknownPositions
from streams.runtime.rekey_hold import RekeyHold
from streams.runtime.routing import KIND_HEADER, SOURCE_TOPIC_HEADER, InputRecord, Router
from streams.runtime.topics import PipelineTopics
from streams.sim.simulator import SimulationConfig, simulate
from streams.telemetry.metrics import Metrics
from tests.support.fakes import RecordingOutbox

INPUTS = {"cs.accounts": "account", "cs.surveys": "survey"}
TOPICS = PipelineTopics(rekey="app-rekeyed-events", referral="app-referral-credits", health="cs.health",
                        changes="cs.health-changes", alerts="cs.alerts", dlq="cs.dlq")
UNKNOWN = "minted-by-a-producer"



def account_event() -> bytes:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    events = simulate(SimulationConfig(customers=1, days=3, seed=1, start=start)).events()
    event = next(e for e in events if e["topic"] in ("account", "cs.accounts"))
    return encode_for_kafka(event)[1]


def count(metrics: Metrics, name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_header_naming_an_unknown_topic_is_counted_as_other():
    metrics = Metrics()
    router = Router(input_kinds=INPUTS, partitions=4, topics=TOPICS, outbox=RecordingOutbox(), metrics=metrics,
                    rekey_hold=RekeyHold(TOPICS.rekey, UnknownPositions()))
    headers = {KIND_HEADER: b"account", SOURCE_TOPIC_HEADER: UNKNOWN.encode()}
    router.route(InputRecord(topic=TOPICS.rekey, partition=0, offset=0, key=b"c1", value=account_event(),
                             headers=headers))
    router.route(InputRecord(topic=TOPICS.rekey, partition=0, offset=1, key=b"c1", value=b"not json",
                             headers=headers))
    router.route(InputRecord(topic="cs.accounts", partition=0, offset=0, key=b"c1", value=b"not json",
                             headers={}))
    assert count(metrics, "cshealth_events_consumed_total", topic="other") == 2
    assert count(metrics, "cshealth_events_consumed_total", topic="cs.accounts") == 1
    assert count(metrics, "cshealth_dlq_records_total", topic="other") == 1
    assert UNKNOWN not in generate_latest(metrics.registry).decode()
