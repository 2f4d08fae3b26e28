"""The offline replay's throughput alone, in-process and without Kafka: the simulator's events
folded by handlers.replay from a JSONL file, as `cshealth replay` reads it.

    .venv/bin/python -m streams.bench.replay_bench --events 1000000 --customers 100000 --days 90

Prints events/s (wall and CPU), alerts, health changes, peak RSS and the mean state size.
The events are the same for the same arguments: their period ends at a fixed instant.
`cshealth bench` (streams/bench/run.py) measures the replay beside the worker and its baselines.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson

from handlers.config import load_config
from handlers.replay import replay
from streams.bench.event_set import write_event_set

END = datetime(2024, 7, 30, tzinfo=timezone.utc)  # where the simulated period ends
SEED = 7


def run(events: int, customers: int, days: int) -> dict:
    """Replay the simulator's first `events` events over `days` (longer if `days` hold fewer)."""
    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        write_event_set(path, events, customers, SEED, end=END, days=days)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu0, t0 = time.process_time(), time.perf_counter()
        with path.open("rb") as f:
            result = replay(f, config)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"events": events, "customers": customers, "days": days, "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1), "events_per_s": round(events / seconds),
            "events_per_cpu_s": round(events / cpu), "peak_rss_mb": round(rss_mb),
            "rss_before_replay_mb": round(rss_before),
            "alerts": len(result.alerts), "health_changes": result.health_changes,
            "mean_state_bytes": round(sum(len(s.to_bytes()) for s in result.states.values()) / max(1, len(result.states)))}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--days", type=int, default=90)
    a = p.parse_args(argv)
    sys.stdout.write(orjson.dumps(run(a.events, a.customers, a.days)).decode() + "\n")


if __name__ == "__main__":
    main()
