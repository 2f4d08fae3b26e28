"""A Faust agent that takes batches of raw events and does nothing else: the most any Faust
agent can deliver on this machine, the ceiling `cshealth bench` measures the worker against.

The worker's delivery settings (raw bytes, the same take_events batches, stream buffer, fetch
size and Cython streams); no table, no outputs. CSHEALTH_BENCH_DELIVERY picks how Kafka's
records reach the agent:
  stock     stock Faust (kafka://, Faust's Monitor, asyncio's loop)
  batched   one wait_first per fetched batch (streams/runtime/faust_delivery.py), the rest stock
  cshealth  what the worker runs: batched, the slim Monitor, uvloop and the worker's collector
            thresholds (streams/runtime/gc_pacing.py) (the default)

Run as `python -m streams.bench.do_nothing_agent` with the worker's CSHEALTH_* settings; GET /progress
returns {"events": n}, the events taken so far.

`python -m streams.bench.do_nothing_agent compare --events N --rounds R` (CSHEALTH_BOOTSTRAP_SERVERS
set) runs the three deliveries in turn, R times, on one event set, and prints each run's rate and
the agent's CPU time per event: on a shared machine the CPU time is what other load changes least.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import faust

from streams.runtime.app import BATCH_MAX, BATCH_WITHIN_S, DELIVERY_SETTINGS
from streams.runtime.faust_delivery import app_options, broker_urls, use_uvloop
from streams.runtime.faust_internals import run_worker
from streams.runtime.gc_pacing import use_worker_thresholds
from streams.bench.naive_agent import add_progress_pages, bench_app
from streams.settings import Settings, load_settings

DELIVERIES = ("stock", "batched", "cshealth")


def build_app(settings: Settings, delivery: str = "cshealth") -> faust.App:
    if delivery not in DELIVERIES:
        raise ValueError(f"CSHEALTH_BENCH_DELIVERY: {delivery!r} is not one of {', '.join(DELIVERIES)}")
    # broker_consumer: Faust's setting for the consumer's transport (the producer's stays stock)
    app = bench_app(settings, store="memory://",
                    broker_consumer=broker_urls(settings.bootstrap_servers, batched=delivery != "stock"),
                    **DELIVERY_SETTINGS, **(app_options() if delivery == "cshealth" else {}))
    progress = {"events": 0, "ready": False}
    source = app.topic(*settings.input_topics, key_serializer="raw", value_serializer="raw")

    @app.agent(source, concurrency=1)
    async def take(stream):
        progress["ready"] = True
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            progress["events"] += len(events)

    add_progress_pages(app, progress)
    return app


def measure(app, events: int, poll_s: float = 0.1) -> tuple[float, float]:
    """(events/s, CPU us per event) of a started agent process, from its last poll that saw no
    event to its first that saw them all (start-up and the first assignment not counted)."""
    import psutil

    process = psutil.Process(app.proc.pid)

    def sample() -> tuple[float, float, int]:
        cpu = process.cpu_times()
        return time.monotonic(), cpu.user + cpu.system, app.get("/progress")[1]["events"]

    start = now = sample()
    while now[2] < events:
        app.check_running()
        time.sleep(poll_s)
        now = sample()
        if now[2] == 0:
            start = now
    return (now[2] - start[2]) / (now[0] - start[0]), (now[1] - start[1]) / (now[2] - start[2]) * 1e6


def compare(bootstrap: str, events: int, customers: int, rounds: int, work: Path) -> dict[str, list]:
    from streams.bench.event_set import read_event_set, write_event_set
    from streams.devstack.processes import WorkerProcess, settings_from, stack_env
    from streams.kafka.producer import produce_events
    from streams.runtime.topics import ensure_topics

    prefix = f"deliveries-{uuid.uuid4().hex[:8]}"
    env = stack_env(bootstrap, prefix, 8)
    settings = settings_from(env)
    write_event_set(work / "events.jsonl", events, customers, seed=1)
    asyncio.run(ensure_topics(settings))
    asyncio.run(produce_events(settings, read_event_set(work / "events.jsonl")))
    runs: dict[str, list] = {delivery: [] for delivery in DELIVERIES}
    for round_ in range(rounds):
        for delivery in DELIVERIES:  # in turn, so that a change in the machine's load hits all three
            app = WorkerProcess(env | {"CSHEALTH_APP_ID": f"{prefix}-{delivery}-{round_}",
                                       "CSHEALTH_BENCH_DELIVERY": delivery},
                                work / f"{delivery}-state", work / f"{delivery}.log",
                                command=("-m", "streams.bench.do_nothing_agent")).start()
            try:
                app.wait_ready(timeout_s=300)
                runs[delivery].append(measure(app, events))
            finally:
                app.stop()
            rate, cpu_us = runs[delivery][-1]
            print(f"round {round_ + 1} {delivery:8} {rate:9,.0f} events/s {cpu_us:6.1f} us CPU per event", flush=True)
    for delivery, measured in runs.items():
        stock = runs["stock"]
        print(f"{delivery:8} median {statistics.median(r for r, _ in measured):9,.0f} events/s "
              f"{statistics.median(c for _, c in measured):6.1f} us CPU per event; against stock, by round: "
              f"rate {' '.join(f'{r / s:.1f}x' for (r, _), (s, _) in zip(measured, stock))}, "
              f"CPU {' '.join(f'{s / c:.1f}x' for (_, c), (_, s) in zip(measured, stock))}")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m streams.bench.do_nothing_agent")
    parser.add_argument("command", nargs="?", choices=["compare"], help="compare the deliveries (default: run the agent)")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.command == "compare":
        import logging

        logging.getLogger("aiokafka").setLevel(logging.ERROR)  # fresh topics: NotLeaderForPartition retries
        with tempfile.TemporaryDirectory(prefix="cshealth-deliveries-") as work:
            compare(os.environ["CSHEALTH_BOOTSTRAP_SERVERS"], args.events, args.customers, args.rounds, Path(work))
        return
    delivery = os.environ.get("CSHEALTH_BENCH_DELIVERY", "cshealth")
    if delivery == "cshealth":
        use_uvloop()  # before the app, which creates the loop the worker runs on
        use_worker_thresholds()
    settings = load_settings()
    run_worker(build_app(settings, delivery), settings)


if __name__ == "__main__":
    main()
