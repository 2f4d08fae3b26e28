"""Write cost: one state write (table + changelog record) per key per batch vs one per event.

    .venv/bin/python -m tests.bench.write_cost [--events 30000] [--customers 3000]
    .venv/bin/python -m tests.bench.write_cost --compare-gc [--rounds 3] [--events 60000] [--customers 20000]

Both runs fold the same simulator events through streams.runtime.pipeline.Pipeline in batches of the
worker's size; every write goes to RocksDB (as the table's does) and counts as a changelog
record (producing those records is not included). The ratio is measured in the same run. Prints
events/s and changelog records for each; docs/performance.md keeps the figures. --compare-gc
runs the per-batch Pipeline under Python's collector thresholds and the worker's, alternating,
and prints each run's events/s and CPU seconds.
"""
from __future__ import annotations

import argparse
import gc
import itertools
import tempfile
import time
from datetime import datetime, timedelta, timezone

import orjson
from rocksdict import Rdict

from handlers.config import load_config
from streams.runtime.app import BATCH_MAX
from streams.telemetry.metrics import Metrics
from streams.runtime.pipeline import Pipeline, PipelineOptions
from streams.runtime.routing import InputRecord, partition_for
from streams.sim import SimulationConfig, simulate
from streams.runtime.topics import PipelineTopics
from streams.settings import Settings
from tests.support.fakes import DiscardingOutbox, MemoryStore

PARTITIONS = 8
INPUT_KINDS = Settings().input_topics  # the default topics: topic -> event kind
TOPIC_OF = {kind: topic for topic, kind in INPUT_KINDS.items()}


class CountingStore(MemoryStore):
    """Reads from memory; every write also goes to RocksDB, as the worker's table does."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.rocks = Rdict(path)
        self.writes = 0

    def put(self, key, value, origin):
        super().put(key, value, origin)
        self.rocks[key] = value
        self.writes += 1


class PerEventWrites(Pipeline):
    """The way a Faust table is usually used: the state is written after every event."""

    def _fold_customer(self, customer_key, items):
        state = None
        for item in items:
            state = super()._fold_customer(customer_key, [item])
            self.store.put(customer_key, state.to_bytes(), item[0].origin)
        return state


def records(events: int, customers: int) -> list[InputRecord]:
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=365)
    sim = simulate(SimulationConfig(customers=customers, days=365, seed=4, start=start))
    out, offsets = [], {}
    for event in itertools.islice(sim.events(), events):
        topic = TOPIC_OF[event.pop("topic")]
        key = event["customer_id"].encode()
        partition = partition_for(key, PARTITIONS)
        offset = offsets[(topic, partition)] = offsets.get((topic, partition), -1) + 1
        out.append(InputRecord(topic, partition, offset, key, orjson.dumps(event), {}))
    return out


def run(kind: type[Pipeline], batch: list[InputRecord], work: str) -> tuple[float, int]:
    store = CountingStore(f"{work}/{kind.__name__}")
    pipeline = kind(config=load_config(), store=store, outbox=DiscardingOutbox(), metrics=Metrics(),
                    input_kinds=INPUT_KINDS, partitions=PARTITIONS,
                    topics=PipelineTopics("rekey", "referral", "h", "c", "a", "d"),
                    options=PipelineOptions(watermark_idle_s=0.0))
    started = time.perf_counter()
    for i in range(0, len(batch), BATCH_MAX):
        pipeline.process_batch(batch[i:i + BATCH_MAX])
    return len(batch) / (time.perf_counter() - started), store.writes


def compare_gc(batch: list[InputRecord], rounds: int) -> None:
    from streams.runtime.gc_pacing import use_worker_thresholds

    python_default = (700, 10, 10)
    for _ in range(rounds):
        for name, apply in (("python", lambda: gc.set_threshold(*python_default)), ("worker", use_worker_thresholds)):
            apply()
            gc.collect()
            gc.freeze()  # the records: alive throughout, as the worker's frozen objects are
            with tempfile.TemporaryDirectory() as work:
                cpu = time.process_time()
                eps, _ = run(Pipeline, batch, work)
                cpu = time.process_time() - cpu
            gc.unfreeze()
            print(f"{name:6s} thresholds {gc.get_threshold()}: {eps:8.0f} events/s  {cpu:6.1f} CPU s", flush=True)
    gc.set_threshold(*python_default)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30000)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--compare-gc", action="store_true", help="Python's collector thresholds against the worker's")
    parser.add_argument("--rounds", type=int, default=3, help="With --compare-gc: runs of each")
    args = parser.parse_args()
    batch = records(args.events, args.customers)
    if args.compare_gc:
        compare_gc(batch, args.rounds)
        return
    with tempfile.TemporaryDirectory() as work:
        per_event_eps, per_event_writes = run(PerEventWrites, batch, work)
        per_batch_eps, per_batch_writes = run(Pipeline, batch, work)
    print(f"per key per batch: {per_batch_eps:8.0f} events/s  {per_batch_writes:7d} changelog records")
    print(f"per event:         {per_event_eps:8.0f} events/s  {per_event_writes:7d} changelog records")
    print(f"per-batch writes are {per_batch_eps / per_event_eps:.2f}x faster, "
          f"{per_event_writes / max(1, per_batch_writes):.1f}x fewer records")


if __name__ == "__main__":
    main()
