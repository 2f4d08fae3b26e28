"""A long, sparse history through the offline replay, in-process: what a backfill of many customers
over many months costs when most customer-days are quiet (the shape of a real purchase history).

    .venv/bin/python -m streams.bench.long_history --customers 25000 --days 540 [--json OUT]

The simulator's events (25,000 customers over 18 months by default, at a low background activity:
--events-per-month) are written once to a JSONL file in --work (reused by later runs with the same
arguments; the period ends at a fixed instant, so the events are the same), then folded by
handlers.replay.replay as `cshealth replay` folds them. Prints the replay's wall and CPU seconds,
events/s, peak RSS and the mean state size, and the cost of one worker-like customer evaluation
(decode the stored state, close one more day, snapshot, encode) on the replayed states.
`measure()` is what a larger bench calls.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from handlers.config import HealthConfig, load_config
from handlers.customer import advance, snapshot
from handlers.replay import replay
from handlers.state import CustomerState
from handlers.timeutil import DAY_MS
from streams.sim import SimulationConfig, simulate, write_jsonl
from streams.sim.alert_quality import evaluate as alert_quality

END = datetime(2024, 7, 30, tzinfo=timezone.utc)  # where the simulated period ends
SEED = 7
# Background events (interactions, tickets, mentions, surveys) per customer and month; purchases,
# sign-ups and scripted turns come on top (~11 purchases a customer over 18 months). 0.25 keeps
# the history sparse, as a purchase history is: ~15 events a customer over 540 days.
EVENTS_PER_MONTH = 0.25
CUSTOMERS = 25_000  # the long history: 25,000 customers, 18 months
EVALUATED = 2000  # customers timed for the per-customer evaluation


def simulation(customers: int, days: int, seed: int, events_per_month: float):
    return simulate(SimulationConfig(customers=customers, days=days, seed=seed, start=END - timedelta(days=days),
                                     events_per_customer_per_month=events_per_month))


def events_file(customers: int, days: int, seed: int, work_dir: Path,
                events_per_month: float = EVENTS_PER_MONTH) -> tuple[Path, float]:
    """The history's JSONL file in work_dir, written unless there; (path, seconds spent writing)."""
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    path = Path(work_dir) / f"long-{customers}c-{days}d-s{seed}-r{events_per_month:g}.jsonl"
    if path.exists():
        return path, 0.0
    t0 = time.perf_counter()
    partial = path.with_suffix(".part")
    write_jsonl(simulation(customers, days, seed, events_per_month).events(), partial)
    partial.replace(path)  # a run killed while writing leaves no truncated history behind
    return path, time.perf_counter() - t0


def customer_day(states: dict[str, CustomerState], as_of_ms: int, config: HealthConfig,
                 n: int = EVALUATED) -> dict:
    """Microseconds per customer for what the worker does with a customer whose day closes:
    decode its stored state, advance() one more day, snapshot(), encode it again."""
    raws = [st.to_bytes() for _, st in zip(range(n), (states[c] for c in sorted(states)))]
    watermark = as_of_ms + DAY_MS
    took = {"from_bytes": 0.0, "advance": 0.0, "snapshot": 0.0, "to_bytes": 0.0}
    clock = time.process_time
    for raw in raws:
        t0 = clock()
        st = CustomerState.from_bytes(raw)
        t1 = clock()
        advance(st, watermark, config)
        t2 = clock()
        snapshot(st, watermark, config)
        t3 = clock()
        st.to_bytes()
        t4 = clock()
        took["from_bytes"] += t1 - t0
        took["advance"] += t2 - t1
        took["snapshot"] += t3 - t2
        took["to_bytes"] += t4 - t3
    count = max(1, len(raws))
    out = {f"{k}_us": round(v / count * 1e6, 1) for k, v in took.items()}
    out["customer_day_us"] = round(sum(took.values()) / count * 1e6, 1)
    out["customers_evaluated"] = len(raws)
    return out


def measure(customers: int, days: int, seed: int = SEED, work_dir: Path | str | None = None,
            events_per_month: float = EVENTS_PER_MONTH) -> dict:
    """Replay the long history (written into work_dir, a temporary directory when None)."""
    if work_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            return measure(customers, days, seed, tmp, events_per_month)
    config = load_config()
    path, generate_s = events_file(customers, days, seed, Path(work_dir), events_per_month)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu0, t0 = time.process_time(), time.perf_counter()
    with path.open("rb") as f:
        result = replay(f, config, with_changes=False)  # as `cshealth replay` without --changes
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    events = result.summary["events"] + result.summary["derived_events"] + result.summary["employee_surveys"]
    states = result.states
    return {
        "customers": customers, "days": days, "seed": seed, "events_per_month": events_per_month,
        "events": events, "generate_s": round(generate_s, 1),
        "long_history_replay_s": round(seconds, 1), "long_history_replay_cpu_s": round(cpu, 1),
        "events_per_s": round(events / seconds), "events_per_cpu_s": round(events / cpu),
        "customer_days_per_cpu_s": round(len(states) * days / cpu),
        "peak_rss_mb": round(rss_mb), "rss_before_replay_mb": round(rss_before),
        "alerts": len(result.alerts), "health_changes": result.health_changes,
        "alert_quality": _alert_quality(result.alerts, customers, days, seed, events_per_month),
        "mean_state_bytes": round(sum(len(s.to_bytes()) for s in states.values()) / max(1, len(states))),
        **customer_day(states, _as_of_ms(result), config),
    }


def _alert_quality(alerts: list[dict], customers: int, days: int, seed: int, events_per_month: float) -> dict:
    """The alerts against the simulator's ground truth: pages of healthy customers a month, by rule,
    and how soon quiet churners are paged (a sparse history is where the silence rule is tested)."""
    stories = alert_quality(alerts, simulation(customers, days, seed, events_per_month).truth(), days)["stories"]
    healthy = stories.get("healthy", {})
    churners = stories.get("quiet_churner", {})
    return {"healthy_false_alerts_per_customer_month": healthy.get("false_alert_rate_per_customer_month"),
            "healthy_false_alerts_by_rule": healthy.get("rules"),
            "quiet_churner_recall": churners.get("recall"),
            "quiet_churner_days_to_first_alert_median": churners.get("days_to_first_alert_median")}


def _as_of_ms(result) -> int:
    """The instant the replay evaluated at (its newest event)."""
    return int(datetime.fromisoformat(result.summary["as_of"]).timestamp() * 1000)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=CUSTOMERS)
    p.add_argument("--days", type=int, default=540)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--events-per-month", type=float, default=EVENTS_PER_MONTH,
                   help="background events per customer and month (purchases come on top)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cshealth-long-history",
                   help="where the history's JSONL file is kept between runs")
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    figures = measure(a.customers, a.days, a.seed, a.work, a.events_per_month)
    text = orjson.dumps(figures).decode()
    if a.json:
        a.json.write_text(text + "\n")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
