"""The foundation: the real local broker answers, topics get their configs, records round-trip."""
from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.alerting.tail import format_alert, format_change, tail
from streams.kafka import local_broker
from streams.settings import load_settings
from streams.runtime.topics import ensure_topics
from tests.support.cli import run_cli
from tests.support.topics import read_all

pytestmark = pytest.mark.kafka


def prefixed_settings(bootstrap: str, prefix: str, partitions: int = 3):
    names = {f"topic_{n}": f"{prefix}.{n}" for n in (
        "purchases", "surveys", "tickets", "mentions", "interactions", "accounts",
        "health", "health_changes", "alerts", "dlq")}
    return load_settings(bootstrap_servers=bootstrap, partitions=partitions, app_id=prefix, **names)


def test_topics_created_with_partitions_and_compaction(kafka_bootstrap, unique_prefix):
    settings = prefixed_settings(kafka_bootstrap, unique_prefix)

    async def scenario():
        created = await ensure_topics(settings)
        again = await ensure_topics(settings)
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics([settings.topic_health, settings.topic_purchases])
            configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, settings.topic_health)])
        finally:
            await admin.close()
        return created, again, described, configs

    created, again, described, configs = asyncio.run(scenario())
    assert len(created) == 13 and again == []
    assert {len(t["partitions"]) for t in described} == {3}
    entries = {c[0]: c[1] for c in configs[0].resources[0][4]}
    assert entries["cleanup.policy"] == "compact"


def test_topics_that_exist_but_are_not_listed_yet_are_not_reported_as_created(kafka_bootstrap, unique_prefix,
                                                                              monkeypatch):
    """Right after a creation the broker's metadata can lag the controller (KRaft): a second
    ensure_topics then asks to create them again, and Kafka answers "already exists" per topic."""
    settings = prefixed_settings(kafka_bootstrap, unique_prefix)
    assert len(asyncio.run(ensure_topics(settings))) == 13

    async def nothing_listed(self):
        return []

    monkeypatch.setattr(AIOKafkaAdminClient, "list_topics", nothing_listed)
    assert asyncio.run(ensure_topics(settings)) == []


def test_topics_kafka_refuses_to_create_fail_with_the_reason(kafka_bootstrap, unique_prefix):
    settings = prefixed_settings(kafka_bootstrap, unique_prefix).model_copy(update={"replication_factor": 3})
    with pytest.raises(RuntimeError, match=r"did not create 13 topics: .*InvalidReplicationFactor"):
        asyncio.run(ensure_topics(settings))  # a single broker


def test_produce_and_consume_roundtrip(kafka_bootstrap, unique_prefix):
    topic = f"{unique_prefix}.roundtrip"
    records = [{"event_id": f"e{i}", "customer_id": f"c{i % 7}"} for i in range(200)]

    async def send():
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for record in records:
                await producer.send(topic, orjson.dumps(record), key=record["customer_id"].encode())
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())
    seen = read_all(kafka_bootstrap, topic)
    assert sorted(r["event_id"] for r in seen) == sorted(r["event_id"] for r in records)


def test_tail_shows_alerts_and_changes_from_the_beginning_and_stops_at_its_limit(kafka_bootstrap, unique_prefix):
    settings = prefixed_settings(kafka_bootstrap, unique_prefix, partitions=1)
    alerts = [{"customer_id": f"c{i}", "status": "firing", "severity": "critical", "summary": f"alert {i}",
               "suggested_action": "call them"} for i in range(3)]
    changes = [{"customer_id": "c9", "previous_score": 70, "score": 40, "band": "red", "previous_band": "amber",
                "explanation": "-30 = NPS detractor -30"}]

    async def scenario():
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for topic, records in ((settings.topic_alerts, alerts), (settings.topic_health_changes, changes)):
                for record in records:
                    await producer.send_and_wait(topic, orjson.dumps(record), key=record["customer_id"].encode())
        finally:
            await producer.stop()
        lines: list[str] = []
        shown = await tail(settings, lines.append, from_beginning=True, limit=4)
        only_alerts: list[str] = []
        await tail(settings, only_alerts.append, from_beginning=True, include_changes=False, limit=2)
        return shown, lines, only_alerts

    shown, lines, only_alerts = asyncio.run(scenario())
    assert shown == 4 and len(lines) == 4
    assert sorted(line for line in lines if "FIRING" in line) == sorted(map(format_alert, alerts))
    assert [line for line in lines if "HEALTH" in line] == [format_change(changes[0])]
    assert len(only_alerts) == 2 and all("FIRING" in line for line in only_alerts)


def test_broker_keeps_topics_across_stop_start(tmp_path):
    data_dir = tmp_path / "kafka"
    info = local_broker.start(data_dir)
    try:
        settings = prefixed_settings(info.bootstrap, "keep", partitions=2)
        asyncio.run(ensure_topics(settings))
        assert local_broker.stop(data_dir)
        assert local_broker.status(data_dir) is None
        info = local_broker.start(data_dir)
        assert asyncio.run(ensure_topics(settings)) == []  # nothing to create: topics survived
    finally:
        local_broker.stop(data_dir)


def test_kafka_start_on_a_busy_port_fails_fast(tmp_path, kafka_bootstrap):
    busy_port = kafka_bootstrap.rpartition(":")[2]
    result = run_cli("kafka", "start", "--data-dir", str(tmp_path / "k"), "--port", busy_port)
    assert result.returncode == 2 and "already in use" in result.stderr
