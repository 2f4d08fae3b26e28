"""Event time against the real broker: a partition whose last record is rejected, a duplicate or
re-keyed does not hold the watermark, and one producer's clock 40 days ahead is dead-lettered
without moving event time (also across a restart)."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from handlers.config import load_config
from handlers.replay import replay
from handlers.timeutil import parse_ts
from streams.devstack.processes import WorkerProcess, settings_from, stack_env
from streams.kafka.producer import encode_for_kafka, topic_for_kind
from streams.runtime.routing import partition_for
from streams.runtime.topics import ensure_topics
from streams.sim import SimulationConfig, simulate
from tests.integration.harness import interleave_topics, produce, wait_for_equal
from tests.support.conditions import eventually
from tests.support.topics import read_records

pytestmark = pytest.mark.kafka
START = datetime(2026, 1, 5, tzinfo=timezone.utc)
PARTITIONS = 4
SKEW_MS = 3_600_000


def stream(seed: int) -> list[dict]:
    return interleave_topics(list(simulate(SimulationConfig(customers=120, days=30, seed=seed, start=START)).events()),
                             seed=seed)


def oracle(events: list[dict]) -> dict[str, dict]:
    return {line["customer_id"]: line for line in replay((orjson.dumps(e) for e in events), load_config()).snapshots}


def started_worker(env: dict, state_dir, log) -> WorkerProcess:
    worker = WorkerProcess(env, state_dir, log).start()
    worker.wait_ready(timeout_s=180)
    return worker


async def send(bootstrap: str, records: list[tuple[str, bytes | None, bytes, int | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic, key, value, partition in records:
            await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


def test_last_records_rejected_duplicated_or_rekeyed_do_not_hold_event_time(kafka_bootstrap, unique_prefix, tmp_path):
    events = stream(seed=31)
    env = stack_env(kafka_bootstrap, unique_prefix, partitions=PARTITIONS)
    asyncio.run(ensure_topics(settings_from(env)))
    worker = started_worker(env, tmp_path / "state", tmp_path / "worker.log")
    try:
        produce(env, events)
        newest = max(events, key=lambda e: parse_ts(e["occurred_at"]))
        # A new event of an existing customer, at the newest instant, keyed by something else.
        rekeyed = {**newest, "event_id": "rekeyed-last-1"}
        key, value = encode_for_kafka(rekeyed)
        duplicate = next(e for e in reversed(events) if e["topic"] == "account")
        dup_key, dup_value = encode_for_kafka(duplicate)
        interactions, accounts = env["CSHEALTH_TOPIC_INTERACTIONS"], env["CSHEALTH_TOPIC_ACCOUNTS"]
        last = [(interactions, b"c-%d" % p, b"{not json", p) for p in range(PARTITIONS)]
        last.append((accounts, dup_key, dup_value, partition_for(dup_key, PARTITIONS)))
        wrong_partition = (partition_for(key, PARTITIONS) + 1) % PARTITIONS
        topic = topic_for_kind(settings_from(env))[rekeyed["topic"]]
        last.append((topic, b"not-the-customer", value, wrong_partition))
        asyncio.run(send(kafka_bootstrap, last))

        expected = oracle(events + [rekeyed])
        wait_for_equal(kafka_bootstrap, env["CSHEALTH_TOPIC_HEALTH"], expected, timeout_s=600)
        newest_ms = parse_ts(newest["occurred_at"])
        eventually(lambda: worker.get("/readyz")[1]["watermark_ms"] == newest_ms, 60,
                   message=lambda: f"watermark {worker.get('/readyz')[1]['watermark_ms']} != newest {newest_ms}")
        for cid in sorted(expected)[:40]:
            status, body = worker.get(f"/customers/{cid}")
            assert status == 200 and body == expected[cid], cid
    finally:
        worker.stop()


def test_an_event_forty_days_ahead_is_dead_lettered_and_moves_no_clock(kafka_bootstrap, unique_prefix, tmp_path):
    events = stream(seed=32)
    future_at = datetime.now(timezone.utc) + timedelta(days=40)
    future = {**events[len(events) // 2], "event_id": "from-the-future", "occurred_at": future_at.isoformat()}
    env = stack_env(kafka_bootstrap, unique_prefix, partitions=PARTITIONS)
    asyncio.run(ensure_topics(settings_from(env)))
    expected = oracle(events)

    def within_skew(worker: WorkerProcess) -> None:
        watermark = worker.get("/readyz")[1]["watermark_ms"]
        assert 0 < watermark <= time.time() * 1000 + SKEW_MS

    worker = started_worker(env, tmp_path / "state", tmp_path / "first.log")
    try:
        produce(env, events[: len(events) // 2] + [future] + events[len(events) // 2:])
        wait_for_equal(kafka_bootstrap, env["CSHEALTH_TOPIC_HEALTH"], expected, timeout_s=600)
        within_skew(worker)
    finally:
        worker.stop()
    dlq = read_records(kafka_bootstrap, env["CSHEALTH_TOPIC_DLQ"])
    assert [dict(r.headers)["cshealth-reason"] for r in dlq] == [b"future_event"]
    assert orjson.loads(dlq[0].value)["event_id"] == "from-the-future"

    restarted = started_worker(env, tmp_path / "state", tmp_path / "restarted.log")
    try:
        eventually(lambda: restarted.get("/readyz")[1]["watermark_ms"] > 0, 60)
        within_skew(restarted)
    finally:
        restarted.stop()
    now_ms = time.time() * 1000
    alerts = [orjson.loads(r.value) for r in read_records(kafka_bootstrap, env["CSHEALTH_TOPIC_ALERTS"])]
    assert alerts and all(parse_ts(a["occurred_at"]) <= now_ms for a in alerts)
