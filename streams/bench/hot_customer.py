"""Hot-customer benchmark: one customer in a social storm, folded the way the worker folds it.

    .venv/bin/python -m streams.bench.hot_customer --events 150000

N mentions (every other one text-only, scored by the lexicon) of one customer within six
hours of event time, arriving in small out-of-order runs. They are folded in batches as
the pipeline does: apply() each event, then advance() to the newest event time and
serialise the state once per batch. Prints the cost per event (fold, write, total) at a
few event counts, 1,000 and the last among them, and the state's size in bytes (the record
the worker writes; Kafka's default limit is 1 MiB). A flat cost reads about the same at
every count once the duplicate memory is full (handlers.customer.DEDUPE_CAP_IDS).
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time

from handlers.config import load_config
from handlers.customer import DEDUPE_CAP_IDS, advance, apply
from handlers.events import Mention
from handlers.state import CustomerState

T0 = 1_714_521_600_000  # 2024-05-01T00:00:00Z
STORM_MS = 6 * 3_600_000
WINDOW = 1_000  # events per cost figure
TEXTS = ("this is the worst outage, cancel now", "terrible support, still broken", "love the new release",
         "slow again today", "refund me, useless product")


def storm(n: int, seed: int = 7, customer: str = "hot") -> list[Mention]:
    """n mentions spread evenly over six hours; each run of 20 arrives shuffled (the usual mild disorder)."""
    rnd = random.Random(seed)
    events = []
    for i in range(n):
        fields = {"event_id": f"m{i}", "customer_id": customer, "occurred_at": T0 + i * STORM_MS // n,
                  "source": "x"}
        if i % 2:
            fields["text"] = TEXTS[rnd.randrange(len(TEXTS))]
        else:
            fields["sentiment"] = rnd.choice((-0.9, -0.6, -0.2, 0.1, 0.5))
        events.append(Mention.model_validate(fields))
    for start in range(0, n, 20):
        run = events[start:start + 20]
        rnd.shuffle(run)
        events[start:start + 20] = run
    return events


def fold(events: list[Mention], batch: int, config) -> tuple[CustomerState, list[tuple[float, float, int]]]:
    """Fold in batches like the pipeline. Returns the state and, per batch, the seconds per
    event it took to fold (apply + advance) and to write (to_bytes), and the state's size."""
    state = CustomerState.new(events[0].customer_id)
    batches: list[tuple[float, float, int]] = []
    newest = 0
    clock = time.perf_counter
    for start in range(0, len(events), batch):
        chunk = events[start:start + batch]
        t0 = clock()
        for event in chunk:
            apply(state, event, config)
            newest = max(newest, event.occurred_at_ms)
        advance(state, newest, config)
        t1 = clock()
        size = len(state.to_bytes())
        t2 = clock()
        batches.append(((t1 - t0) / len(chunk), (t2 - t1) / len(chunk), size))
    return state, batches


def checkpoints(n: int) -> list[int]:
    """Event counts to report: 1k, 10k, just past the dedupe cap, 100k, n."""
    return sorted({m for m in (WINDOW, 10_000, DEDUPE_CAP_IDS + 2 * WINDOW, 100_000, n) if WINDOW <= m <= n})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=150_000)
    ap.add_argument("--batch", type=int, default=100, help="events of the customer per batch (default 100)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if args.events < WINDOW or not 1 <= args.batch <= WINDOW:
        ap.error(f"need --events >= {WINDOW} and 1 <= --batch <= {WINDOW}")
    config = load_config()
    events = storm(args.events, args.seed)
    # The pre-built events are input, not state: out of the collector's sight, as a worker's
    # consumed records would be, or its full collections would scan all of them.
    gc.collect()
    gc.freeze()
    state, batches = fold(events, args.batch, config)
    print(f"{args.events:,} mentions of one customer within 6 h, batches of {args.batch}; cost per event "
          f"(median batch among the {WINDOW:,} events up to each count)")
    print(f"{'events':>9} {'fold us':>8} {'write us':>9} {'total us':>9} {'state bytes':>12}")
    for mark in checkpoints(args.events):
        # The median batch: robust to a moment of CPU contention on a shared machine.
        window = batches[max(0, (mark - WINDOW) // args.batch):(mark + args.batch - 1) // args.batch]
        fold_us = statistics.median(b[0] for b in window) * 1e6
        write_us = statistics.median(b[1] for b in window) * 1e6
        print(f"{mark:>9,} {fold_us:>8.1f} {write_us:>9.1f} {fold_us + write_us:>9.1f} {window[-1][2]:>12,}")
    size = len(state.to_bytes())
    print(f"state after {args.events:,} events: {size:,} bytes ({size / 1_048_576:.2f} MiB), "
          f"{len(state.seen):,} event ids remembered (cap {DEDUPE_CAP_IDS:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
