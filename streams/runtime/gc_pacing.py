"""Keeps Python's cyclic garbage collector off the worker's hot path.

The worker holds many long-lived containers (decoded states of recently seen customers,
per-customer bookkeeping, Faust's app). Each full collection walks all of them: 200-500 ms
with 10,000 states cached, every few seconds while catching up a backlog, and more than a
third of the worker's time there (docs/performance.md, "Garbage-collector pacing"). So every
ten seconds what is alive is frozen out of the collector's scans (gc.freeze: refcounting
still frees it), and from time to time everything is thawed and collected once, so cycles
among frozen objects are not kept forever.

Young collections run every YOUNG_THRESHOLD containers allocated (net of those freed) instead
of Python's 700: a batch holds its decoded events, states and outputs until it ends, so with
700 the collector scanned the batch's young objects over and over while it was being built,
finding nothing to free (the Pipeline alone: ~15-25 % less CPU, docs/performance.md,
"Young collections").

That full collection stops the event loop for as long as it walks everything (the worker's
events wait meanwhile), so it waits for a moment when no input was folded for `idle_s`
after it is due (every `full_every_s`); a worker that is never idle takes it after
`full_at_latest_s` anyway. Each pause is observed (`cshealth_gc_pause_seconds`).
"""
from __future__ import annotations

import gc
import time
from typing import Callable

FREEZE_EVERY_S = 10.0
FULL_EVERY_S = 600.0
FULL_AT_LATEST_S = 3600.0
IDLE_S = 2.0
YOUNG_THRESHOLD = 50_000  # container allocations between two young collections (Python's default: 700)


def use_worker_thresholds() -> None:
    """The collector's thresholds of a worker process (and of the bench's ceiling, which runs
    what the worker runs); the older generations are left to CollectorPacing's freezes."""
    gc.set_threshold(YOUNG_THRESHOLD, 20, 100)


class CollectorPacing:
    def __init__(self, clock: Callable[[], float] = time.monotonic, freeze_every_s: float = FREEZE_EVERY_S,
                 full_every_s: float = FULL_EVERY_S, full_at_latest_s: float = FULL_AT_LATEST_S,
                 idle_s: float = IDLE_S, observe: Callable[[str, float], None] = lambda collection, seconds: None
                 ) -> None:
        self.clock = clock
        self.freeze_every_s = freeze_every_s
        self.full_every_s = full_every_s
        self.full_at_latest_s = full_at_latest_s
        self.idle_s = idle_s
        self.observe = observe  # (collection "young" | "full", seconds the event loop stood still)
        self.frozen_at = self.full_at = self.busy_at = clock()

    def busy(self) -> None:
        """Input was just folded: a full collection now would hold up the next events."""
        self.busy_at = self.clock()

    def tick(self) -> None:
        """Call often (the worker's one-second timer); does something at most every FREEZE_EVERY_S."""
        now = self.clock()
        since_full = now - self.full_at
        if since_full >= self.full_at_latest_s or (since_full >= self.full_every_s and now - self.busy_at >= self.idle_s):
            collection = "full"
            started = time.perf_counter()
            gc.unfreeze()
            gc.collect()
            self.full_at = now
        elif now - self.frozen_at >= self.freeze_every_s:
            collection = "young"
            started = time.perf_counter()
            gc.collect(1)  # young garbage is not worth keeping frozen
        else:
            return
        gc.freeze()
        self.observe(collection, time.perf_counter() - started)
        self.frozen_at = now
