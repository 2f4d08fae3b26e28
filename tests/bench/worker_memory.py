"""The worker's memory at 100,000 customers, and its rate: the worker alone, through a real broker,
on the bench's event set, with settings variants alternating in the same run.

    .venv/bin/python -m tests.bench.worker_memory --events 300000 --customers 100000 \
        --variant before:CSHEALTH_X=1 --variant after: --rounds 2 [--sweep] [--recovery] --work-dir DIR

Each run gets its own topics (the events produced again, before the worker starts), its own
state dir and a fresh worker process, then:
  backlog   the worker folds every event and referral credit (steady events/s as `cshealth bench`
            measures it, and the worker's CPU seconds over the whole run up to then)
  settle    (--settle) the sweeps the backlog's end started (the watermark jumped days ahead: every
            customer is swept), until none is under way
  sweep     (--sweep, after settle) events dated past the next tick close after the newest event: every customer
            swept across a day boundary, until /readyz swept_through_ms passes it
  recovery  (--recovery) the state dir removed and a new worker reads the changelog as written
RSS is sampled every 0.2 s; the peak of each phase is reported, and the whole series goes to
DIR/<run>.rss.csv. Variants are `name:ENV=VALUE,ENV=VALUE` (empty after the colon: the defaults),
set on top of the worker's environment.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import psutil

from streams.bench.event_set import read_event_set, write_event_set
from streams.bench.run import AGE_TEMPLATES, SWEEP_TEMPLATES, finished, newest_event_ms, steady_rate, time_sweep, \
    timeout_for, wait_for_sweeps

MIB = 2**20


class PhaseSampler(threading.Thread):
    """RSS of one process at a time every 0.2 s, with the phase it was in."""

    def __init__(self, csv: Path) -> None:
        super().__init__(daemon=True)
        self.pid: int | None = None
        self.phase = "start"
        self.peaks: dict[str, int] = {}
        self.stopped = threading.Event()
        self.csv = csv.open("w")
        self.csv.write("t_s,phase,rss_mib\n")
        self.started = time.monotonic()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            pid, phase = self.pid, self.phase
            if pid is None:
                continue
            try:
                rss = psutil.Process(pid).memory_info().rss
            except psutil.Error:
                continue
            self.peaks[phase] = max(self.peaks.get(phase, 0), rss)
            self.csv.write(f"{time.monotonic() - self.started:.1f},{phase},{rss / MIB:.0f}\n")
        self.csv.close()


def cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, assignments = text.partition(":")
    env = dict(a.split("=", 1) for a in assignments.split(",") if a)
    return name, env


def one_run(bootstrap: str, work: Path, jsonl: Path, events: int, derived: int, customers: int, partitions: int,
            name: str, extra: dict[str, str], settle: bool, sweep: bool, recovery: bool, boundary_ms: int) -> dict:
    from streams.devstack.processes import WorkerProcess, settings_from, stack_env
    from streams.kafka.producer import produce_events
    from streams.runtime.topics import ensure_topics

    run_id = f"{name}-{uuid.uuid4().hex[:6]}"
    env = stack_env(bootstrap, f"mem-{run_id}", partitions) | extra
    settings = settings_from(env)
    asyncio.run(ensure_topics(settings))
    asyncio.run(produce_events(settings, read_event_set(jsonl)))
    result: dict = {"run": run_id, "variant": name, "env": extra}
    sampler = PhaseSampler(work / f"{run_id}.rss.csv")
    sampler.start()
    state_dir = work / f"{run_id}-state"
    worker = WorkerProcess(env, state_dir, work / f"{run_id}.log").start()
    try:
        sampler.pid, sampler.phase = worker.proc.pid, "backlog"
        started = time.monotonic()
        worker.wait_ready(timeout_s=300)
        result["backlog_eps"] = steady_rate(worker, lambda: finished(worker), 0, events + derived, timeout_for(events))
        result["backlog_wall_s"] = time.monotonic() - started
        result["backlog_cpu_s"] = cpu_s(worker.proc.pid)
        if settle or sweep:
            sampler.phase = "settle"
            started = time.monotonic()
            wait_for_sweeps(worker, timeout_for(customers))
            result["settle_wall_s"] = time.monotonic() - started
            result["settle_cpu_s"] = cpu_s(worker.proc.pid) - result["backlog_cpu_s"]
        if sweep:
            sampler.phase = "sweep"
            with jsonl.open("rb") as lines:
                templates = [orjson.loads(line) for line in itertools.islice(lines, AGE_TEMPLATES)]
            cpu_before = cpu_s(worker.proc.pid)
            result["sweep_s"] = time_sweep(worker, settings, templates[:SWEEP_TEMPLATES], boundary_ms,
                                           timeout_for(customers))
            result["sweep_cpu_s"] = cpu_s(worker.proc.pid) - cpu_before
        if recovery:
            sampler.phase = "stop"
            worker.stop()
            shutil.rmtree(state_dir, ignore_errors=True)
            started = time.monotonic()
            worker = WorkerProcess(env, state_dir, work / f"{run_id}.log").start()
            sampler.pid, sampler.phase = worker.proc.pid, "recovery"
            worker.wait_ready(timeout_s=600, poll_s=0.1)
            result["recovery_s"] = time.monotonic() - started
            time.sleep(2)
    finally:
        worker.stop()
        sampler.stopped.set()
        sampler.join()
    result["peak_rss_mib"] = {phase: round(peak / MIB) for phase, peak in sampler.peaks.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--variant", action="append", required=True, help="name:ENV=VALUE,... (repeatable)")
    parser.add_argument("--rounds", type=int, default=1, help="each variant this many times, alternating")
    parser.add_argument("--settle", action="store_true", help="after the backlog, wait until no sweep is under way")
    parser.add_argument("--sweep", action="store_true", help="--settle, then a day boundary crossed")
    parser.add_argument("--recovery", action="store_true")
    parser.add_argument("--work-dir", type=Path, required=True)
    args = parser.parse_args()

    from handlers.config import load_config
    from streams.kafka import local_broker
    from streams.runtime.sweep import next_tick_close

    import logging

    # Producing right after creating the topics retries NotLeaderForPartition: expected, not news.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    jsonl = work / f"events-{args.events}-{args.customers}-{args.seed}.jsonl"
    meta = jsonl.with_suffix(".json")
    if not meta.exists():  # as `cshealth bench` writes it: ending two days ago
        end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)
        written, derived = write_event_set(jsonl, args.events, args.customers, args.seed, end=end)
        meta.write_bytes(orjson.dumps({"derived": derived}))
    derived = orjson.loads(meta.read_bytes())["derived"]
    boundary_ms = next_tick_close(newest_event_ms(jsonl), load_config())

    bootstrap = os.environ.get("CSHEALTH_BOOTSTRAP_SERVERS")
    broker_dir = None if bootstrap else work / "kafka"
    if broker_dir:
        shutil.rmtree(broker_dir, ignore_errors=True)
        bootstrap = local_broker.start(broker_dir).bootstrap
    results = []
    try:
        for _ in range(args.rounds):
            for text in args.variant:
                name, extra = parse_variant(text)
                result = one_run(bootstrap, work, jsonl, args.events, derived, args.customers, args.partitions,
                                 name, extra, args.settle, args.sweep, args.recovery, boundary_ms)
                results.append(result)
                print(orjson.dumps(result).decode(), flush=True)
                with (work / "results.jsonl").open("ab") as out:
                    out.write(orjson.dumps(result | {"at": datetime.now(timezone.utc).isoformat(),
                                                     "load": os.getloadavg()}) + b"\n")
    finally:
        if broker_dir:
            local_broker.stop(broker_dir)


if __name__ == "__main__":
    main()
