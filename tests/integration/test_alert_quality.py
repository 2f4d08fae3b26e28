"""Alert quality through the real broker and worker, against the simulator's ground truth."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from streams.bench.run import wait_for_sweeps
from streams.devstack.processes import WorkerProcess, stack_env
from streams.sim.alert_quality import MUST_ALERT, evaluate
from streams.sim.simulator import SimulationConfig, simulate
from tests.integration.harness import interleave_topics, produce
from tests.support.conditions import eventually
from tests.support.topics import read_all, read_latest

pytestmark = pytest.mark.kafka
DAYS = 120
# The documented false-alert budget: share of healthy + noisy-but-healthy customers alerted per simulated month.
FALSE_ALERT_BUDGET = 0.02


def test_scripted_stories_are_alerted_and_healthy_ones_rarely(kafka_bootstrap, unique_prefix, tmp_path):
    simulation = simulate(SimulationConfig(customers=1000, days=DAYS, seed=8,
                                           start=datetime(2026, 1, 1, tzinfo=timezone.utc)))
    events, truth = list(simulation.events()), simulation.truth()
    env = stack_env(kafka_bootstrap, unique_prefix)
    worker = WorkerProcess(env, tmp_path / "state", tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        produce(env, interleave_topics(events, seed=8))
        # Done when every customer's health is out, the worker's watermark reached the last event
        # and no sweep (silence, window expiry) is under way or due.
        newest = max(_ms(e["occurred_at"]) for e in events)
        eventually(lambda: len(read_latest(kafka_bootstrap, env["CSHEALTH_TOPIC_HEALTH"])) >= 990
                   and worker.get("/readyz")[1]["watermark_ms"] >= newest, 600, interval=3,
                   message=lambda: f"the worker did not finish: {worker.get('/readyz')[1]}")
        wait_for_sweeps(worker, timeout_s=120)
        alerts = read_all(kafka_bootstrap, env["CSHEALTH_TOPIC_ALERTS"])
    finally:
        worker.stop()
    report = evaluate(alerts, truth, DAYS)
    print(json.dumps(report, indent=1))
    stories = report["stories"]
    for story in MUST_ALERT:
        assert stories[story]["recall"] == 1.0, f"{story} missed: {stories[story]['missed']}"
    calm = [stories[s] for s in ("healthy", "noisy_healthy")]
    alerted = sum(s["alerted"] for s in calm)
    customers = sum(s["customers"] for s in calm)
    share_per_month = alerted / customers / (DAYS / 30)
    assert share_per_month < FALSE_ALERT_BUDGET, f"{share_per_month:.2%} of healthy customers alerted per month"


def _ms(value) -> int:
    from handlers.timeutil import parse_ts

    return parse_ts(value)
