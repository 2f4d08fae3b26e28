"""Outputs under crashes: a worker killed with SIGKILL at six points of one stream (with 2,000
upstream duplicates), restarted on the same state dir or a fresh one, ends with every customer's
cs.health and HTTP view equal to the replay, and delivers every health change and alert the
replay says, nothing else, repeating only with the same id and content."""
from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime, timezone

import orjson
import pytest

from handlers.config import load_config
from handlers.replay import replay
from handlers.timeutil import parse_ts
from streams.bench.run import consumed
from streams.devstack.processes import WorkerProcess, settings_from, stack_env
from streams.runtime.topics import ensure_topics
from streams.sim import SimulationConfig, simulate
from tests.integration.harness import create_topic, interleave_topics, outputs_by_id, produce, wait_for_equal
from tests.support.conditions import eventually
from tests.support.topics import read_records

pytestmark = pytest.mark.kafka
START = datetime(2026, 2, 1, tzinfo=timezone.utc)
KILLS = 6


def test_every_output_survives_kill_9_at_six_points(kafka_bootstrap, unique_prefix, tmp_path):
    events = list(simulate(SimulationConfig(customers=2600, days=56, seed=21, start=START)).events())
    assert len(events) >= 50_000
    oracle = replay((orjson.dumps(e) for e in events), load_config())
    expected_health = {line["customer_id"]: line for line in oracle.snapshots}
    expected_alerts = {(a["alert_id"], a["status"]): a for a in oracle.alerts}
    expected_changes = {c["change_id"]: c for c in oracle.changes}

    env = stack_env(kafka_bootstrap, unique_prefix)
    asyncio.run(ensure_topics(settings_from(env)))  # the configured partitions, not the broker's default
    ordered = interleave_topics(events, seed=6)
    duplicates = random.Random(9).sample(ordered, 2000)
    produce(env, ordered + duplicates)  # a backlog: outputs are queued in bulk when a kill comes
    step = len(events) // (KILLS + 2)
    started: list[WorkerProcess] = []
    try:
        for run in range(KILLS + 1):
            # Even runs keep the previous state dir (recovering from the local store), odd ones
            # start from a fresh one (recovering from the changelog).
            state_dir = tmp_path / f"state-{run if run % 2 else max(run - 1, 0)}"
            worker = WorkerProcess(env, state_dir, tmp_path / f"worker-{run}.log").start()
            started.append(worker)
            worker.wait_ready(timeout_s=180)
            if run == KILLS:
                break
            eventually(lambda: consumed(worker) >= step, 600,
                       message=lambda: f"run {run}: consumed {consumed(worker)} of {step}")
            worker.kill()

        wait_for_equal(kafka_bootstrap, env["CSHEALTH_TOPIC_HEALTH"], expected_health, timeout_s=900)
        # The inputs let go of event time once quiet for the idle time: then the HTTP view is the
        # replay line itself, as of the same watermark (the newest event).
        newest_ms = max(parse_ts(e["occurred_at"]) for e in events)
        eventually(lambda: worker.get("/readyz")[1]["watermark_ms"] == newest_ms, 60,
                   message=lambda: f"watermark {worker.get('/readyz')[1]['watermark_ms']} != newest {newest_ms}")
        for cid in random.Random(3).sample(sorted(expected_health), 300):
            status, body = worker.get(f"/customers/{cid}")
            assert status == 200 and body == expected_health[cid], cid
        assert read_records(kafka_bootstrap, env["CSHEALTH_TOPIC_DLQ"]) == []
        alerts, alert_counts, alert_conflicts = outputs_by_id(
            read_records(kafka_bootstrap, env["CSHEALTH_TOPIC_ALERTS"]), lambda a: (a["alert_id"], a["status"]))
        changes, change_counts, change_conflicts = outputs_by_id(
            read_records(kafka_bootstrap, env["CSHEALTH_TOPIC_HEALTH_CHANGES"]), lambda c: c["change_id"])
    finally:
        for worker in started:
            worker.stop()

    figures = {
        "events": len(events), "kills": KILLS,
        "alerts": {"expected": len(expected_alerts), "delivered": len(alerts),
                   "repeated": sum(n - 1 for n in alert_counts.values())},
        "changes": {"expected": len(expected_changes), "delivered": len(changes),
                    "repeated": sum(n - 1 for n in change_counts.values())},
    }
    print("delivery under kill -9:", json.dumps(figures))

    assert not alert_conflicts and not change_conflicts, (alert_conflicts[:3], change_conflicts[:3])
    assert set(alerts) == set(expected_alerts), (sorted(set(expected_alerts) - set(alerts))[:5],
                                                 sorted(set(alerts) - set(expected_alerts))[:5])
    assert set(changes) == set(expected_changes), (sorted(set(expected_changes) - set(changes))[:5],
                                                   sorted(set(changes) - set(expected_changes))[:5])
    assert all(alerts[k] == expected_alerts[k] for k in expected_alerts)
    assert all(changes[k] == expected_changes[k] for k in expected_changes)


async def set_topic_config(bootstrap: str, name: str, config: dict[str, str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=config)])
    finally:
        await admin.close()


def test_a_failed_send_ends_the_worker_and_a_restart_delivers_everything(kafka_bootstrap, unique_prefix, tmp_path):
    events = list(simulate(SimulationConfig(customers=150, days=30, seed=8, start=START)).events())
    expected = {line["customer_id"]: line for line in replay((orjson.dumps(e) for e in events), load_config()).snapshots}
    env = stack_env(kafka_bootstrap, unique_prefix)
    health = env["CSHEALTH_TOPIC_HEALTH"]
    # The broker refuses every cs.health record: each send fails.
    asyncio.run(create_topic(kafka_bootstrap, health, 4, {"max.message.bytes": "64", "cleanup.policy": "compact"}))
    asyncio.run(ensure_topics(settings_from(env)))
    produce(env, events)
    state_dir = tmp_path / "state"
    failing = WorkerProcess(env, state_dir, tmp_path / "failing.log").start()
    try:
        assert failing.proc.wait(timeout=180) == 75
    finally:
        failing.stop()
    assert "a Kafka send failed" in failing.tail_log(20_000)

    asyncio.run(set_topic_config(kafka_bootstrap, health, {"max.message.bytes": "4194304"}))
    restarted = WorkerProcess(env, state_dir, tmp_path / "restarted.log").start()
    try:
        wait_for_equal(kafka_bootstrap, health, expected, timeout_s=600)
    finally:
        restarted.stop()


def worker_with_file_size_limit(limit_bytes: int) -> tuple[str, ...]:
    """The worker command in a process that may not write a file larger than limit_bytes:
    Python ignores SIGXFSZ, so a write past it fails with EFBIG, as a full disk fails it.
    RocksDB hits it when it flushes a memtable to a table file."""
    return ("-c", "import resource, runpy, sys; "
                  f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes})); "
                  "sys.argv = ['cshealth', 'worker']; runpy.run_module('streams.cli', run_name='__main__')")


def test_a_failed_state_write_ends_the_worker_and_a_restart_delivers_everything(kafka_bootstrap, unique_prefix,
                                                                                 tmp_path):
    events = list(simulate(SimulationConfig(customers=600, days=45, seed=14, start=START)).events())
    oracle = replay((orjson.dumps(e) for e in events), load_config())
    expected = {line["customer_id"]: line for line in oracle.snapshots}
    # One table partition with a 1 MiB memtable: its first flush writes a table file over the limit.
    env = stack_env(kafka_bootstrap, unique_prefix, partitions=1, store_memtable_mib=1)
    asyncio.run(ensure_topics(settings_from(env)))
    produce(env, events)
    state_dir = tmp_path / "state"
    failing = WorkerProcess(env, state_dir, tmp_path / "failing.log",
                            command=worker_with_file_size_limit(200_000)).start()
    try:
        assert failing.proc.wait(timeout=300) == 75, failing.tail_log()
    finally:
        failing.stop()
    assert "to the local store failed" in failing.tail_log(20_000)

    restarted = WorkerProcess(env, state_dir, tmp_path / "restarted.log").start()  # the disk has room again
    try:
        wait_for_equal(kafka_bootstrap, env["CSHEALTH_TOPIC_HEALTH"], expected, timeout_s=600)
        alerts, _, conflicts = outputs_by_id(
            read_records(kafka_bootstrap, env["CSHEALTH_TOPIC_ALERTS"]), lambda a: (a["alert_id"], a["status"]))
    finally:
        restarted.stop()
    assert not conflicts and set(alerts) == {(a["alert_id"], a["status"]) for a in oracle.alerts}
