"""`cshealth bench`: the worker against a plain consumer, a naive Faust agent and the offline replay.

One fixed mixed event set (the simulator, truncated to N events) is produced into a real
Kafka, then, one after another so they never share the CPU:
  1. limit        a plain aiokafka consumer: getmany + orjson.loads, nothing else;
                  and Faust's ceiling: streams/bench/do_nothing_agent.py takes the worker's batches and
                  does nothing with them (what any Faust agent can reach here), with stock Faust,
                  with one wait_first per fetched batch, and with the worker's cshealth delivery
  2. worker       `python -m streams.cli worker` folding everything (state, outputs)
                  then: the sweep of every customer across a day boundary (sweep_100k_s),
                  event age at half its rate, peak RSS, state size, recovery time
                  (from the changelog as written, and once the log cleaner compacted it)
  3. naive faust  streams/bench/naive_agent.py, the fold as the Faust docs teach it
  4. replay       handlers.replay over the same events as JSONL
Rates are steady-state: measured from the last poll that saw no progress to the first
that saw everything, so process start-up and rebalancing are not counted.

This module runs the phases and watches the worker (its /metrics and /readyz); the event set
is streams/bench/event_set.py, the plain consumer streams/bench/plain_consumer.py, the goals
and the printed table streams/bench/report.py. streams/bench/replay_bench.py measures the
offline replay alone, in-process, without Kafka; streams/bench/sweep_bench.py the day-boundary
sweep alone, in-process. --long-history adds streams/bench/long_history.py's replay of a long
history (long_history_replay_s) and a worker catching up the same history from Kafka
(long_history_worker_s).
"""
from __future__ import annotations

import asyncio
import itertools
import math
import os
import platform
import shutil
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import click
import orjson

from streams.bench.event_set import derived_count, read_event_set, write_event_set
from streams.bench.plain_consumer import changelog_records, changelog_state_bytes, limit_rate, wait_for_compaction
from streams.bench.report import check_goals, render_table

POLL_S = 0.2
AGE_TEMPLATES = 5000  # events re-stamped as "now" for the event-age phase
SWEEP_TEMPLATES = 200  # events re-stamped just past a day boundary: enough to reach every input partition


# -- watching a worker --------------------------------------------------------------------------
def scrape(worker) -> dict[str, list[tuple[dict, float]]]:
    """The worker's /metrics: sample name -> [(labels, value)]."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = worker.get_raw("/metrics")
    if status != 200:
        raise click.ClickException(f"{worker.url}/metrics answered {status}")
    samples: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def metric_sum(samples: dict, name: str) -> float:
    return sum(value for _, value in samples.get(name, ()))


def consumed(worker) -> int:
    return int(metric_sum(scrape(worker), "cshealth_events_consumed_total"))


def finished(worker) -> int:
    """Events consumed, less one while evaluations deferred during the backlog are still to do:
    a run counts as done when every output is out, not when the last event was read."""
    return consumed(worker) - (1 if worker.get("/readyz")[1].get("deferred") else 0)


def steady_rate(worker, count: Callable[[], int], start: int, target: int, timeout_s: float,
                say: Callable[[str], None] | None = None) -> float:
    """Events/s from the last poll that saw `start` to the first that saw `target`."""
    deadline = time.monotonic() + timeout_s
    idle_at = reported = time.monotonic()
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise click.ClickException(f"{worker.command} exited {worker.proc.returncode}: {worker.tail_log()}")
        try:
            seen, now = count(), time.monotonic()
        except OSError:  # its event loop is busy (a long sweep): ask again
            continue
        if seen <= start:
            idle_at = now
        elif seen >= target:
            return (target - start) / max(now - idle_at, POLL_S)
        if say and now - reported >= 30:  # long runs: show that it moves
            reported = now
            say(f"    {seen - start:,} of {target - start:,} events")
        time.sleep(POLL_S)
    raise click.ClickException(f"{worker.command} did not fold {target - start} events in {timeout_s:.0f}s")


def timeout_for(events: int) -> float:
    return 300 + events / 50  # generous: the worker and the naive agent both manage 100s of events/s


class RssSampler(threading.Thread):
    """Peak resident set size of the processes handed to `watch`, sampled every POLL_S."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.pids: list[int] = []
        self.peak = 0
        self.stopped = threading.Event()

    def watch(self, pid: int) -> None:
        self.pids.append(pid)

    def run(self) -> None:
        import psutil

        while not self.stopped.wait(POLL_S):
            for pid in list(self.pids):
                try:
                    self.peak = max(self.peak, psutil.Process(pid).memory_info().rss)
                except psutil.Error:  # exited: nothing more to sample
                    self.pids.remove(pid)


def quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """histogram_quantile over cumulative (upper bound, count) pairs, linear inside a bucket."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # in the +Inf bucket: the largest finite bound, as Prometheus does
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return lower


def age_buckets(samples: dict) -> dict[float, float]:
    """cshealth_event_age_seconds buckets summed over topics."""
    out: dict[float, float] = {}
    for labels, value in samples.get("cshealth_event_age_seconds_bucket", ()):
        bound = float(labels["le"])
        out[bound] = out.get(bound, 0.0) + value
    return out


def full_collections(samples: dict) -> tuple[float, float]:
    """(count, seconds) of the worker's full garbage collections so far (cshealth_gc_pause_seconds)."""
    def total(name: str) -> float:
        return sum(value for labels, value in samples.get(name, ()) if labels.get("collection") == "full")
    return total("cshealth_gc_pause_seconds_count"), total("cshealth_gc_pause_seconds_sum")


def event_age(worker, settings, templates: list[dict], rate: float, seconds: float) -> dict[str, float]:
    """Produce fresh events (occurred_at = send time) at `rate`; p50 and p99 of the age the worker
    saw, and the full collections that stopped it meanwhile (they delay every event waiting)."""
    from streams.kafka.producer import produce_events

    total = max(1, int(rate * seconds))
    run_id = uuid.uuid4().hex[:8]

    def fresh() -> Iterator[dict]:
        for i in range(total):  # stamped when the producer asks for it, i.e. at send time
            yield templates[i % len(templates)] | {"event_id": f"age-{run_id}-{i}", "occurred_at": int(time.time() * 1000)}

    expected = total + sum(derived_count(templates[i % len(templates)]) for i in range(total))
    before = scrape(worker)
    start = int(metric_sum(before, "cshealth_events_consumed_total"))
    asyncio.run(produce_events(settings, fresh(), rate=rate, linger_ms=5))
    # waits until the worker folded them all (the rate itself is not wanted here)
    steady_rate(worker, lambda: finished(worker), start, start + expected, timeout_s=timeout_for(expected))
    samples = scrape(worker)
    after, base = age_buckets(samples), age_buckets(before)
    delta = [(bound, count - base.get(bound, 0.0)) for bound, count in after.items()]
    (pauses_before, seconds_before), (pauses, pause_s) = full_collections(before), full_collections(samples)
    return {"p50_event_age_s": quantile(delta, 0.5), "p99_event_age_s": quantile(delta, 0.99),
            "age_window_full_gc_pauses": pauses - pauses_before, "age_window_full_gc_s": pause_s - seconds_before}


def crosses_sweep_boundary(start_s: float, end_s: float, config) -> bool:
    """Did a UTC day, or the last day whose tick may close, change between two wall times?"""
    from handlers.customer import due_day
    from handlers.timeutil import DAY_MS

    start_ms, end_ms = int(start_s * 1000), int(end_s * 1000)
    return start_ms // DAY_MS != end_ms // DAY_MS or due_day(start_ms, config) != due_day(end_ms, config)


def wait_for_sweeps(worker, timeout_s: float) -> None:
    """Until no sweep nor deferred evaluation has been under way for longer than a partition
    waits between sweeps, plus its next tick (every second) on either side: none is due then."""
    from streams.runtime.sweep import SWEEP_MIN_INTERVAL_S

    settled_s = SWEEP_MIN_INTERVAL_S + 2.0
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        try:
            status = worker.get("/readyz")[1]
        except OSError:  # its event loop is busy: so is a sweep
            status = {"sweep_pending": 1}
        if status.get("sweep_pending") or status.get("deferred"):
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settled_s:
            return
        time.sleep(POLL_S)


def newest_event_ms(jsonl: Path) -> int:
    from handlers.timeutil import parse_ts

    with jsonl.open("rb") as lines:  # epoch ms or ISO text, as the simulator writes them
        return max(parse_ts(orjson.loads(line)["occurred_at"]) for line in lines)


def effective_watermark_ms(worker) -> int:
    return int(1000 * metric_sum(scrape(worker), "cshealth_event_time_effective_watermark_seconds"))


def time_sweep(worker, settings, templates: list[dict], boundary_ms: int, timeout_s: float) -> float:
    """Seconds from the worker's event time passing `boundary_ms` (fresh events dated just after
    it are produced) to no sweep nor deferred evaluation left: every customer evaluated."""
    from streams.kafka.producer import produce_events

    run_id = uuid.uuid4().hex[:8]
    crossing = [template | {"event_id": f"sweep-{run_id}-{i}", "occurred_at": boundary_ms + 60_000}
                for i, template in enumerate(templates)]
    asyncio.run(produce_events(settings, crossing))
    deadline = time.monotonic() + timeout_s
    crossed_at = None
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise click.ClickException(f"{worker.command} exited {worker.proc.returncode}: {worker.tail_log()}")
        try:
            if crossed_at is None:
                if effective_watermark_ms(worker) >= boundary_ms:
                    crossed_at = time.monotonic()
            else:
                status = worker.get("/readyz")[1]
                if status.get("swept_through_ms", 0) >= boundary_ms and not status.get("deferred"):
                    return time.monotonic() - crossed_at
        except OSError:  # its event loop is busy: so is a sweep
            pass
        time.sleep(POLL_S)
    raise click.ClickException(f"{worker.command} did not sweep across {boundary_ms} in {timeout_s:.0f}s")


def catch_up(bootstrap: str, work: Path, jsonl: Path, partitions: int, say: Callable[[str], None]) -> dict:
    """A worker catching up a whole history produced before it starts (the long history): seconds
    from its first folded event until every event is folded, no evaluation waits and every
    partition is swept at the newest event's time (the days the replay closes are closed)."""
    from streams.devstack.processes import WorkerProcess, settings_from, stack_env
    from streams.kafka.producer import produce_events
    from streams.runtime.topics import ensure_topics

    prefix = f"bench-{uuid.uuid4().hex[:8]}-history"
    env = stack_env(bootstrap, prefix, partitions)
    settings = settings_from(env)
    expected = 0
    for event in read_event_set(jsonl):
        expected += 1 + derived_count(event)
    newest = newest_event_ms(jsonl)
    asyncio.run(ensure_topics(settings))
    say(f"    producing its {expected:,} events ({prefix}.*) ...")
    asyncio.run(produce_events(settings, read_event_set(jsonl)))
    say("    a worker catching them up ...")
    worker = WorkerProcess(env, work / "history-worker-state", work / "history-worker.log").start()

    def folded_and_swept() -> int:
        """Events consumed, short of `expected` until no evaluation waits and every partition is
        swept at the newest event's time."""
        status = worker.get("/readyz")[1]
        seen = consumed(worker)
        done = (not status.get("deferred") and not status.get("sweep_pending")
                and status.get("swept_through_ms", 0) >= newest)
        return seen if done else min(seen, expected - 1)

    try:
        worker.wait_ready(timeout_s=300)
        rate = steady_rate(worker, folded_and_swept, 0, expected, timeout_for(expected), say)
        return {"long_history_worker_s": expected / rate, "long_history_worker_eps": rate,
                "long_history_worker_events": expected}
    finally:
        worker.stop()


# -- the run ------------------------------------------------------------------------------------
def machine_info() -> dict:
    import aiokafka
    import faust
    import psutil

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
            "logical_cpus": os.cpu_count(), "memory_bytes": psutil.virtual_memory().total,
            "faust": faust.__version__, "aiokafka": aiokafka.__version__}


def run_bench(bootstrap: str, work: Path, events: int, customers: int, partitions: int, seed: int,
              age_seconds: float, compaction_wait_s: float, say: Callable[[str], None],
              long_history_days: int | None = None) -> dict:
    from handlers.config import load_config
    from handlers.replay import replay
    from streams.devstack.processes import WorkerProcess, settings_from, stack_env
    from streams.kafka.producer import produce_events
    from streams.runtime.sweep import next_tick_close
    from streams.runtime.topics import ensure_topics

    config = load_config()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    env = stack_env(bootstrap, prefix, partitions)  # the worker's own store (CSHEALTH_STORE's default)
    settings = settings_from(env)
    inputs = list(settings.input_topics)
    result: dict = {"events": events, "customers": customers, "partitions": partitions, "seed": seed}

    say(f"generating {events:,} events for {customers:,} customers ...")
    jsonl = work / "events.jsonl"
    # Ending two days ago at the latest: the next tick close after the newest event lies in the
    # past, so events dated just after it are within the worker's clock skew (sweep_100k_s).
    written, derived = write_event_set(jsonl, events, customers, seed,
                                       end=datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2))
    sweep_boundary_ms = next_tick_close(newest_event_ms(jsonl), config)
    result["derived_events"] = derived
    asyncio.run(ensure_topics(settings))
    say(f"producing them to {bootstrap} ({prefix}.*) ...")
    asyncio.run(produce_events(settings, read_event_set(jsonl)))

    say("1/4 plain consumer ...")
    result["limit_eps"] = limit_rate(bootstrap, inputs, events)

    def agent_rate(name: str, module: str, app_env: dict, target: int) -> float:
        app = WorkerProcess(app_env, work / f"{name}-state", work / f"{name}.log", command=("-m", module))
        app.start()
        try:
            app.wait_ready(timeout_s=300)
            return steady_rate(app, lambda: app.get("/progress")[1]["events"], 0, target, timeout_for(events), say)
        finally:
            app.stop()

    # Faust's ceiling: stock Faust, one wait_first per batch alone, and the worker's delivery (+ uvloop, slim Monitor)
    for delivery, key in (("stock", "faust_stock_ceiling_eps"), ("batched", "faust_batched_ceiling_eps"),
                          ("cshealth", "faust_ceiling_eps")):
        say(f"    a Faust agent that takes the same batches and does nothing ({delivery} delivery) ...")
        result[key] = agent_rate(f"ceiling-{delivery}", "streams.bench.do_nothing_agent",
                                 env | {"CSHEALTH_APP_ID": f"{prefix}-ceiling-{delivery}",
                                        "CSHEALTH_BENCH_DELIVERY": delivery}, events)

    say("2/4 worker ...")
    rss = RssSampler()
    rss.start()
    state_dir = work / "worker-state"
    worker = WorkerProcess(env, state_dir, work / "worker.log").start()
    try:
        rss.watch(worker.proc.pid)
        worker.wait_ready(timeout_s=300)
        # all input events and the referral credits they derive: every state folded, every output sent
        result["worker_eps"] = steady_rate(worker, lambda: finished(worker), 0, events + derived,
                                          timeout_for(events), say)
        # A state written with new outputs keeps them until its next write (Kafka acknowledges them after it)
        (result["state_bytes_per_customer_after_backlog"],
         result["state_kept_output_bytes_per_customer_after_backlog"]) = changelog_state_bytes(
            bootstrap, f"{prefix}-customer-state-changelog")
        result["age_rate_eps"] = result["worker_eps"] / 2
        with jsonl.open("rb") as lines:
            templates = [orjson.loads(line) for line in itertools.islice(lines, AGE_TEMPLATES)]
        # The next tick close after the newest event, which a live worker crosses daily: each of
        # its customers is evaluated (one more tick closed, snapshot, cs.health), in slices between
        # live batches.
        wait_for_sweeps(worker, timeout_for(customers))
        # At rest: the sweep that closed the backlog's last days wrote every state again, leaving
        # out the outputs Kafka had confirmed by then (what a worker holds from day to day).
        result["state_bytes_per_customer"], result["state_kept_output_bytes_per_customer"] = changelog_state_bytes(
            bootstrap, f"{prefix}-customer-state-changelog")
        say(f"    sweep of {customers:,} customers across a day boundary ...")
        result["sweep_customers"] = customers
        result["sweep_100k_s"] = time_sweep(worker, settings, templates[:SWEEP_TEMPLATES], sweep_boundary_ms,
                                            timeout_for(customers))
        # The event set ends before "now": the first fresh events move the watermark days ahead,
        # every customer is swept once and each template's customer catches up days of ticks on
        # its first fresh event. That is catching up, not the steady state to measure: one fresh
        # event per template first.
        say("    warming up with fresh events until the sweep they start is done ...")
        event_age(worker, settings, templates, result["age_rate_eps"], len(templates) / result["age_rate_eps"])
        wait_for_sweeps(worker, timeout_for(customers))
        say(f"    event age at {result['age_rate_eps']:.0f} events/s for {age_seconds:.0f}s ...")
        result["age_windows_across_a_day_boundary"] = 0
        for attempt in range(3):
            started = time.time()
            result.update(event_age(worker, settings, templates, result["age_rate_eps"], age_seconds))
            if not crosses_sweep_boundary(started, time.time(), config):
                break
            # Once a day every customer is swept (silence, windows): a steady rate is what is
            # measured here; the sweep's own cost shows in the worker's batches, not here.
            say("    that crossed a day boundary (every customer swept meanwhile): measuring again ...")
            result["age_windows_across_a_day_boundary"] = attempt + 1
            wait_for_sweeps(worker, timeout_for(customers))
        changelog = f"{prefix}-customer-state-changelog"

        def recover(what: str, key: str, records: int) -> None:
            nonlocal worker
            say(f"    recovery from the changelog {what} ({records:,} records) ...")
            result[f"{key}_changelog_records"] = records
            worker.stop()
            shutil.rmtree(state_dir, ignore_errors=True)
            started = time.monotonic()
            worker = WorkerProcess(env, state_dir, work / "worker.log").start()
            rss.watch(worker.proc.pid)
            worker.wait_ready(timeout_s=600, poll_s=0.1)
            result[key] = time.monotonic() - started

        # Right after the burst every write of it is still in the log; a worker that has run for
        # a while restarts from a compacted one (the log cleaner keeps each customer's newest).
        recover("as written", "recovery_uncompacted_s", changelog_records(bootstrap, changelog))
        recover("compacted", "recovery_s",
                wait_for_compaction(bootstrap, changelog, customers + partitions, timeout_s=compaction_wait_s))
    finally:
        worker.stop()
        rss.stopped.set()
    result["peak_rss_bytes"] = rss.peak

    say("3/4 naive faust agent ...")
    naive_id = f"{prefix}-naive"
    naive_env = env | {"CSHEALTH_APP_ID": naive_id, "CSHEALTH_TOPIC_HEALTH_CHANGES": f"{naive_id}.health_changes",
                       "CSHEALTH_TOPIC_ALERTS": f"{naive_id}.alerts"}
    result["naive_faust_eps"] = agent_rate("naive", "streams.bench.naive_agent", naive_env, events + derived)

    say("4/4 offline replay ...")
    with jsonl.open("rb") as lines:
        started = time.perf_counter()
        replayed = replay(lines, config)
        result["replay_eps"] = written / (time.perf_counter() - started)
    states = replayed.states.values()
    result["replay_state_bytes_per_customer"] = sum(len(s.to_bytes()) for s in states) / max(1, len(states))

    if long_history_days is not None:
        try:
            from streams.bench import long_history
        except ImportError:
            say("    --long-history: streams/bench/long_history.py is not there yet, no long_history_replay_s")
        else:
            # A history of its own size, whatever the bench's customers: long_history_replay_s is comparable across runs.
            say(f"long history: {long_history_days} days of {long_history.CUSTOMERS:,} customers ...")
            history = long_history.measure(long_history.CUSTOMERS, long_history_days, seed, work / "long-history")
            # Its own keys under a "long_history" object: its events and customers are not the bench's.
            result["long_history_replay_s"] = history["long_history_replay_s"]
            result["long_history"] = history
            path, _ = long_history.events_file(long_history.CUSTOMERS, long_history_days, seed, work / "long-history")
            result.update(catch_up(bootstrap, work, path, partitions, say))

    result["worker_to_limit"] = result["worker_eps"] / result["limit_eps"]
    result["worker_to_faust_ceiling"] = result["worker_eps"] / result["faust_ceiling_eps"]
    result["faust_ceiling_to_stock"] = result["faust_ceiling_eps"] / result["faust_stock_ceiling_eps"]
    result["naive_to_worker"] = result["naive_faust_eps"] / result["worker_eps"]
    result["goals"] = check_goals(result)
    result["machine"] = machine_info()
    return result


@click.command()
@click.option("--events", type=click.IntRange(1), default=1_000_000, show_default=True)
@click.option("--customers", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the results here.")
@click.option("--partitions", type=click.IntRange(1), default=8, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--age-seconds", type=click.FloatRange(1), default=30.0, show_default=True,
              help="How long to produce fresh events for the event-age measurement.")
@click.option("--compaction-wait", type=click.FloatRange(0), default=240.0, show_default=True,
              help="At most this long for the log cleaner before the compacted-changelog recovery.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep events, logs and state here (default: a temporary directory, removed).")
@click.option("--long-history", "long_history_days", type=click.IntRange(1), default=None,
              help="Also replay this many days of the customers' history (long_history_replay_s).")
def bench_command(events: int, customers: int, json_out: Path | None, partitions: int, seed: int,
                  age_seconds: float, compaction_wait: float, work_dir: Path | None,
                  long_history_days: int | None) -> None:
    """Benchmark the worker against a plain consumer, a naive Faust agent and the replay.

    Uses CSHEALTH_BOOTSTRAP_SERVERS if set, else starts its own broker in a temporary directory.
    """
    import logging

    from streams.kafka import local_broker

    # Producing right after creating the topics retries NotLeaderForPartition: expected, not news.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)

    started = time.monotonic()

    def say(line: str) -> None:
        click.echo(f"[{time.monotonic() - started:6.1f}s] {line}", err=True)

    temp = tempfile.TemporaryDirectory(prefix="cshealth-bench-") if work_dir is None else None
    work = Path(temp.name) if temp else work_dir
    work.mkdir(parents=True, exist_ok=True)
    bootstrap = os.environ.get("CSHEALTH_BOOTSTRAP_SERVERS")
    broker_dir = None if bootstrap else work / "kafka"
    try:
        if broker_dir:
            say("starting a local Kafka ...")
            bootstrap = local_broker.start(broker_dir).bootstrap
        result = run_bench(bootstrap, work, events, customers, partitions, seed, age_seconds, compaction_wait, say,
                           long_history_days)
    finally:
        if broker_dir:
            local_broker.stop(broker_dir)
        if temp:
            temp.cleanup()
    click.echo(render_table(result))
    if json_out:
        json_out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
