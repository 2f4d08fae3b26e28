"""`cshealth bench` end to end at a tiny size against the session broker: every key, sane values."""
from __future__ import annotations

import math
from datetime import datetime

import orjson
import pytest
from click.testing import CliRunner

from handlers.config import load_config
from streams.bench.run import crosses_sweep_boundary, quantile
from streams.cli import main

REQUIRED = ("limit_eps", "worker_eps", "naive_faust_eps", "replay_eps", "worker_to_limit", "p50_event_age_s",
            "p99_event_age_s", "peak_rss_bytes", "state_bytes_per_customer", "recovery_s", "recovery_uncompacted_s",
            "recovery_s_changelog_records", "naive_to_worker", "faust_ceiling_eps", "worker_to_faust_ceiling",
            "events", "customers", "machine", "goals", "faust_stock_ceiling_eps", "sweep_100k_s", "sweep_customers",
            "state_kept_output_bytes_per_customer", "age_window_full_gc_pauses", "age_window_full_gc_s",
            "state_bytes_per_customer_after_backlog", "state_kept_output_bytes_per_customer_after_backlog")


def test_quantile_interpolates_like_prometheus():
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (math.inf, 100.0)]
    assert quantile(buckets, 0.5) == pytest.approx(0.1)
    assert quantile(buckets, 0.7) == pytest.approx(0.3)
    assert quantile([(1.0, 0.0), (math.inf, 4.0)], 0.99) == 1.0  # only +Inf: the largest finite bound


@pytest.mark.parametrize("start, end, crosses", [
    ("2026-11-24T12:00:00+00:00", "2026-11-24T12:00:30+00:00", False),
    ("2026-11-24T23:59:50+00:00", "2026-11-25T00:00:20+00:00", True),  # a new UTC day
    ("2026-11-24T05:59:50+00:00", "2026-11-24T06:00:20+00:00", True),  # yesterday's tick closes (6 h lateness)
])
def test_an_event_age_window_across_a_sweep_boundary_is_recognised(start, end, crosses):
    seconds = [datetime.fromisoformat(t).timestamp() for t in (start, end)]
    assert crosses_sweep_boundary(*seconds, load_config()) is crosses


@pytest.mark.kafka
@pytest.mark.timeout(180)
def test_bench_smoke(kafka_bootstrap, tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        main, ["bench", "--events", "3000", "--customers", "300", "--partitions", "2", "--age-seconds", "3",
               "--compaction-wait", "0",
               "--work-dir", str(tmp_path / "work"), "--json", str(out)],
        env={"CSHEALTH_BOOTSTRAP_SERVERS": kafka_bootstrap})
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = orjson.loads(out.read_bytes())
    assert set(REQUIRED) <= set(report)
    assert (report["events"], report["customers"]) == (3000, 300)
    for key in ("limit_eps", "faust_ceiling_eps", "worker_eps", "naive_faust_eps", "replay_eps", "recovery_s", "recovery_uncompacted_s",
                "recovery_s_changelog_records", "p99_event_age_s"):
        assert report[key] > 0, key
    # every customer swept once across the day boundary, in slices of 50 ms a partition a second
    assert report["sweep_customers"] == 300 and 0 < report["sweep_100k_s"] < 120
    assert report["worker_to_limit"] == pytest.approx(report["worker_eps"] / report["limit_eps"])
    assert report["worker_to_faust_ceiling"] == pytest.approx(report["worker_eps"] / report["faust_ceiling_eps"])
    assert report["naive_to_worker"] == pytest.approx(report["naive_faust_eps"] / report["worker_eps"])
    assert 0 <= report["p50_event_age_s"] <= report["p99_event_age_s"] < 3600
    assert 10 * 2**20 < report["peak_rss_bytes"] < 8 * 2**30
    assert 100 < report["state_bytes_per_customer"] < 64 * 1024
    assert 0 <= report["state_kept_output_bytes_per_customer"] < report["state_bytes_per_customer"]
    assert (0 <= report["state_kept_output_bytes_per_customer_after_backlog"]
            < report["state_bytes_per_customer_after_backlog"] < 64 * 1024)
    assert report["age_window_full_gc_pauses"] >= 0 and report["age_window_full_gc_s"] >= 0
    assert "faust agent doing nothing" in result.output
    assert "cshealth worker" in result.output and "goals:" in result.output
