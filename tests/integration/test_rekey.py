"""Input topics with more partitions than the worker is configured for (topics the broker made
with its default, or a producer with a partitioner of its own): every record on the extra
partitions travels through the worker's re-key topic. Caught up from a backlog and across a
kill -9, every output equals the replay: no re-keyed record reaches its customer after the
day it belongs to closed."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import orjson
import pytest

from handlers.config import load_config
from handlers.replay import replay
from streams.bench.run import consumed
from streams.devstack.processes import WorkerProcess, settings_from, stack_env
from streams.runtime.topics import ensure_topics, internal_topics
from streams.sim import SimulationConfig, simulate
from tests.integration.harness import create_topic, interleave_topics, outputs_by_id, produce, wait_for_equal
from tests.support.conditions import eventually
from tests.support.topics import read_records

pytestmark = pytest.mark.kafka
START = datetime(2026, 3, 1, tzinfo=timezone.utc)


def test_records_rekeyed_in_a_backlog_and_across_a_crash_are_folded_before_their_day_closes(
        kafka_bootstrap, unique_prefix, tmp_path):
    events = list(simulate(SimulationConfig(customers=900, days=45, seed=31, start=START)).events())
    oracle = replay((orjson.dumps(e) for e in events), load_config())
    expected_health = {line["customer_id"]: line for line in oracle.snapshots}
    # Each batch evaluates its customers at once (no deferral during the backlog): a re-keyed
    # record still on its way when its customer is evaluated would find its day closed.
    env = stack_env(kafka_bootstrap, unique_prefix, backlog_defer_s=0)  # configured for 4 partitions
    settings = settings_from(env)
    for topic in settings.input_topics:
        asyncio.run(create_topic(kafka_bootstrap, topic, 8, {}))
    asyncio.run(ensure_topics(settings))
    produce(env, interleave_topics(events, seed=12))  # keyed by customer over 8 partitions: half move

    state_dir = tmp_path / "state"
    first = WorkerProcess(env, state_dir, tmp_path / "first.log").start()
    try:
        first.wait_ready(timeout_s=180)
        eventually(lambda: consumed(first) >= len(events) // 2, 600,
                   message=lambda: f"consumed {consumed(first)} of {len(events) // 2}")
        first.kill()  # mid-backlog: re-keyed records wait unread, some unsent
        restarted = WorkerProcess(env, state_dir, tmp_path / "restarted.log").start()
        try:
            restarted.wait_ready(timeout_s=180)
            wait_for_equal(kafka_bootstrap, env["CSHEALTH_TOPIC_HEALTH"], expected_health, timeout_s=600)
            alerts, _, alert_conflicts = outputs_by_id(
                read_records(kafka_bootstrap, env["CSHEALTH_TOPIC_ALERTS"]), lambda a: (a["alert_id"], a["status"]))
            changes, _, change_conflicts = outputs_by_id(
                read_records(kafka_bootstrap, env["CSHEALTH_TOPIC_HEALTH_CHANGES"]), lambda c: c["change_id"])
        finally:
            restarted.stop()
    finally:
        first.stop()

    rekeyed = read_records(kafka_bootstrap, internal_topics(settings)["rekey"])
    assert len(rekeyed) >= len(events) // 4  # the test is about re-keyed records: there must be many
    assert read_records(kafka_bootstrap, env["CSHEALTH_TOPIC_DLQ"]) == []
    assert not alert_conflicts and not change_conflicts
    assert set(alerts) == {(a["alert_id"], a["status"]) for a in oracle.alerts}
    assert set(changes) == {c["change_id"] for c in oracle.changes}
