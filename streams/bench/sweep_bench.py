"""The day-boundary sweep alone, in-process: every customer of a worker re-evaluated once.

    .venv/bin/python -m streams.bench.sweep_bench [--customers 100000] [--events 300000] [--stock-store]
        [--json FILE] [--profile FILE]

The simulator's events for `customers` are folded through streams.runtime.pipeline.Pipeline in
the worker's batches into RocksDB opened as the worker's store opens it (one DB per partition;
each write also a changelog record through the outbox, as FaustTableStore does); the outbox
acknowledges at once and keeps nothing. Every customer is swept up to the newest event, then the
watermark moves past the next tick close (streams.runtime.sweep.next_tick_close), which closes
one more day of every customer (its tick evaluated unless the customer's quiet mark covers the
day) and changes every snapshot: the sweep the worker does every day, here in one go (no budget,
no sweep ticks: what the worker spends on it, not how it spreads it out).

Prints the sweep's wall and CPU seconds, CPU microseconds per customer and where they go, the
daily ticks it evaluated, the records it sent,
and the process's RSS after the fold and after the sweep (with RocksDB's memtables and block
cache). `cshealth bench` measures the same sweep in the worker (sweep_100k_s).
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import itertools
import resource
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson

from handlers import ticks
from handlers.config import load_config
from handlers.state import CustomerState
from streams.bench.event_set import simulation
from streams.runtime import outputs as outputs_module
from streams.runtime.app import BATCH_MAX
from streams.runtime.clock import Clock
from streams.runtime.faust_store import wal_less_write_options
from streams.runtime.pipeline import Pipeline, PipelineOptions
from streams.runtime.routing import InputRecord, partition_for
from streams.runtime.sweep import next_tick_close
from streams.runtime.topics import PipelineTopics
from streams.settings import Settings
from streams.telemetry.metrics import Metrics

PARTITIONS = 8
INPUT_KINDS = Settings().input_topics  # the default topics: topic -> event kind
TOPIC_OF = {kind: topic for topic, kind in INPUT_KINDS.items()}


class Timed:
    """CPU seconds spent in the wrapped functions, by name (the thread's CPU time: the machine is
    shared, and the wall time of a part counts the other processes' turns too)."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def wrap(self, name: str, function: Callable) -> Callable:
        @functools.wraps(function)
        def timed(*args, **kwargs):
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.thread_time() - started
                self.calls[name] += 1
        return timed


class Acknowledged:
    def cancelled(self) -> bool:
        return False

    def exception(self) -> None:
        return None


class CountingOutbox:
    """Acknowledges every send at once; counts the records by topic."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    def send(self, topic, key, value, headers=None, partition=None, on_sent=None) -> None:
        self.sent[topic] += 1
        if on_sent:
            on_sent(Acknowledged())

    def note_failure(self, future) -> None:
        raise RuntimeError(f"a send failed: {future.exception()!r}")


class RocksStore:
    """The worker's table store without Faust: one RocksDB per partition opened as the worker's
    cshealth-rocksdb:// store opens it (streams/runtime/faust_store.py) or, `stock`, as Faust's
    rocksdb:// does (write-ahead log, Faust's memtables and caches); the origin of a read or
    write is its partition. Each write also sends a changelog record, as FaustTableStore does."""

    def __init__(self, path: Path, outbox: CountingOutbox, stock: bool) -> None:
        from faust.stores.rocksdb import RocksDBOptions

        from streams.runtime import faust_store

        self.stock = stock
        self.options = RocksDBOptions() if stock else faust_store.BoundedOptions()
        self.path = path
        self.outbox = outbox
        self.write_options = None if stock else wal_less_write_options()
        self.dbs: dict[int, Any] = {}

    def db(self, partition: int):
        db = self.dbs.get(partition)
        if db is None:
            db = self.dbs[partition] = self.options.open(self.path / f"{partition}.db")
            if self.write_options is not None:
                db.set_write_options(self.write_options)
        return db

    def get(self, key: bytes, origin: Any = None) -> bytes | None:
        return self.db(partition_for(key, PARTITIONS) if origin is None else origin).get(key)

    def put(self, key: bytes, value: bytes, origin: Any) -> None:
        self.db(origin).put(key, value)
        self.outbox.send("changelog", key, value, partition=origin)

    def memory(self) -> dict[str, int]:
        """RocksDB's own accounting, summed over the partitions' DBs."""
        names = {"memtables": "rocksdb.cur-size-all-mem-tables", "block_cache": "rocksdb.block-cache-usage",
                 "table_readers": "rocksdb.estimate-table-readers-mem"}
        usage = {name: [db.property_int_value(prop) or 0 for db in self.dbs.values()] for name, prop in names.items()}
        # The worker's DBs share one block cache: each reports all of it.
        return {name: max(values) if name == "block_cache" and not self.stock else sum(values)
                for name, values in usage.items()}


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def batches(events: int, customers: int, seed: int, end: datetime) -> Iterator[list[InputRecord]]:
    """The simulator's first `events` events as input records, in the worker's batch size."""
    days = max(28, 3 * events // max(customers, 1))  # the simulator's few events a customer a day
    offsets: dict[tuple[str, int], int] = {}
    stream = itertools.islice(simulation(days, customers, seed, end), events)
    while batch := list(itertools.islice(stream, BATCH_MAX)):
        records = []
        for event in batch:
            topic = TOPIC_OF[event.pop("topic")]
            key = event["customer_id"].encode()
            partition = partition_for(key, PARTITIONS)
            offset = offsets[(topic, partition)] = offsets.get((topic, partition), -1) + 1
            records.append(InputRecord(topic, partition, offset, key, orjson.dumps(event), {}, origin=partition))
        yield records


def run(customers: int, events: int, seed: int, stock: bool, work: Path, say: Callable[[str], None],
        profile: Path | None = None) -> dict:
    config = load_config()
    # The events end two days ago at the latest, so the next tick close after them lies in the past.
    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)
    clock = [time.monotonic()]
    wall = [end.timestamp()]
    outbox = CountingOutbox()
    store = RocksStore(work, outbox, stock)
    pipeline = Pipeline(config=config, store=store, outbox=outbox, metrics=Metrics(), input_kinds=INPUT_KINDS,
                        partitions=PARTITIONS, topics=PipelineTopics("rekey", "referral", "h", "c", "a", "d"),
                        clock=Clock(monotonic=lambda: clock[0], wall=lambda: wall[0]),
                        options=PipelineOptions(watermark_idle_s=0.0, sweep_min_interval_s=0.0,
                                                sweep_budget_s=float("inf"), defer_max_s=0.0))
    result: dict = {"customers": customers, "stock_store": stock, "rss_start_bytes": rss_bytes()}
    say(f"folding {events:,} simulated events of {customers:,} customers ending {end.isoformat()} ...")
    started = time.perf_counter()
    folded = 0
    for batch in batches(events, customers, seed, end):
        pipeline.process_batch(batch)
        folded += len(batch)
        clock[0] += 1.0
    result["events"] = folded
    result["fold_s"] = time.perf_counter() - started
    # The worker sweeps during a backlog too, at most every 10 s a partition: many days at once
    # here. Every customer is then evaluated as of the events' end, as a worker caught up is.
    say("sweeping every customer up to the events' end ...")
    started = time.perf_counter()
    for partition in range(PARTITIONS):
        pipeline.sweep(partition, partition)
    result["catch_up_sweep_s"] = time.perf_counter() - started
    # The newest event decides the watermark: the next tick close after it is one day's sweep.
    crossing_ms = next_tick_close(pipeline.watermark.newest(), config) + 60_000
    result["customers_in_state"] = sum(len(keys) for keys in pipeline.customers_by_partition.values())
    result["rss_after_fold_bytes"] = rss_bytes()
    result["rocksdb_after_fold_bytes"] = store.memory()

    # The watermark crosses D + lateness: one event per input topic and partition (a quiet one
    # with no records would hold it back), dated just past the crossing.
    clock[0] += 1.0
    wall[0] = crossing_ms / 1000 + 60
    crossing = []
    for topic, kind in INPUT_KINDS.items():
        for partition in range(PARTITIONS):
            entry = pipeline.watermark.inputs.get((topic, partition))
            if entry is not None:
                crossing.append(InputRecord(topic, partition, entry[2] + 1, b"", b"{}", {}, origin=partition))
    timed = Timed()
    patches = [(CustomerState, "from_bytes", classmethod(timed.wrap("decode", CustomerState.from_bytes.__func__))),
               (CustomerState, "to_bytes", timed.wrap("encode", CustomerState.to_bytes)),
               (outputs_module, "advance", timed.wrap("advance (ticks)", outputs_module.advance)),
               (outputs_module, "snapshot", timed.wrap("snapshot", outputs_module.snapshot)),
               (store, "get", timed.wrap("store get", store.get)),
               (store, "put", timed.wrap("store put + changelog", store.put))]
    ticks_run = [0]  # daily ticks evaluated (a quiet customer's sweep evaluates none)

    def counted_tick(*args, _tick=ticks.tick, **kwargs):
        ticks_run[0] += 1
        return _tick(*args, **kwargs)

    patches.append((ticks, "tick", counted_tick))
    originals = [(owner, name, owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name))
                 for owner, name, _ in patches]
    sent_before = Counter(outbox.sent)
    for record in crossing:  # an undecodable record still moves its input's position, hence the watermark
        pipeline.watermark.observe(record.topic, record.partition, crossing_ms, record.offset)
    say("sweeping every customer across the day boundary ...")
    for owner, name, wrapped in patches:
        setattr(owner, name, wrapped)
    profiler = cProfile.Profile() if profile else None
    try:
        started = time.perf_counter()
        cpu_started = time.process_time()
        if profiler:
            profiler.enable()
        evaluated = sum(pipeline.sweep(partition, partition) for partition in range(PARTITIONS))
        if profiler:
            profiler.disable()
        result["sweep_s"] = time.perf_counter() - started
        result["sweep_cpu_s"] = time.process_time() - cpu_started
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    if profiler:  # profiled, the timings above include the profiler's own cost
        profiler.dump_stats(profile)
    result["swept_customers"] = evaluated
    result["sweep_us_per_customer"] = 1e6 * result["sweep_s"] / max(evaluated, 1)
    result["sweep_cpu_us_per_customer"] = 1e6 * result["sweep_cpu_s"] / max(evaluated, 1)
    result["sweep_ticks"] = ticks_run[0]
    parts = {name: 1e6 * seconds / max(evaluated, 1) for name, seconds in timed.seconds.most_common()}
    parts["rest (outputs, cache, pipeline)"] = result["sweep_cpu_us_per_customer"] - sum(parts.values())
    result["sweep_us_per_customer_by_part"] = parts
    result["sweep_calls"] = dict(timed.calls)
    result["sweep_records_sent"] = dict(outbox.sent - sent_before)
    result["rss_after_sweep_bytes"] = rss_bytes()
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["rocksdb_after_sweep_bytes"] = store.memory()
    return result


def render(r: dict) -> str:
    mib = 2**20
    lines = [f"{r['customers_in_state']:,} customers ({r['events']:,} events folded in {r['fold_s']:.1f} s, then swept to their end in {r['catch_up_sweep_s']:.1f} s), "
             + ("Faust's rocksdb:// store" if r["stock_store"] else "the worker's cshealth-rocksdb:// store"),
             f"  sweep across a day boundary: {r['sweep_s']:.2f} s ({r['sweep_cpu_s']:.2f} s CPU), "
             f"{r['swept_customers']:,} customers, {r['sweep_us_per_customer']:.0f} us each "
             f"({r['sweep_cpu_us_per_customer']:.0f} us CPU), {r['sweep_ticks']:,} daily ticks evaluated",
             "    CPU by part:",
             *(f"    {name:<32} {us:7.1f} us  ({r['sweep_calls'].get(name, 0):,} calls)"
               for name, us in r["sweep_us_per_customer_by_part"].items()),
             f"  records sent by the sweep: {r['sweep_records_sent']}",
             f"  RSS: start {r['rss_start_bytes'] / mib:,.0f} MiB, after the fold {r['rss_after_fold_bytes'] / mib:,.0f}, "
             f"after the sweep {r['rss_after_sweep_bytes'] / mib:,.0f}, peak {r['peak_rss_bytes'] / mib:,.0f}",
             "  RocksDB after the fold / sweep (MiB): " + ", ".join(
                 f"{name} {r['rocksdb_after_fold_bytes'][name] / mib:,.0f} / {r['rocksdb_after_sweep_bytes'][name] / mib:,.0f}"
                 for name in r["rocksdb_after_fold_bytes"])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stock-store", action="store_true",
                        help="RocksDB as Faust's rocksdb:// store opens and writes it (write-ahead log, its caches)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--profile", type=Path, help="cProfile the day-boundary sweep into this file (pstats)")
    args = parser.parse_args()
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {line}", flush=True)

    with tempfile.TemporaryDirectory(prefix="cshealth-sweep-") as work:
        result = run(args.customers, args.events, args.seed, args.stock_store, Path(work), say, args.profile)
    print(render(result))
    if args.json:
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
