"""Keeps Python's cyclic garbage collector off the worker's hot path.

The worker holds many long-lived containers (decoded states of recently seen customers,
per-customer bookkeeping, Faust's app). Each full collection walks all of them: 200-500 ms
with 10,000 states cached, every few seconds while catching up a backlog, and more than a
third of the worker's time there (100k events / 10k customers: 38-45 s with the collector as
Python sets it, 28 s without any collection). So every ten seconds what is alive is frozen out of
the collector's scans (gc.freeze: refcounting still frees it), and every ten minutes
everything is thawed and collected once, so cycles among frozen objects are not kept forever.
"""
from __future__ import annotations

import gc
import time
from typing import Callable

FREEZE_EVERY_S = 10.0
FULL_EVERY_S = 600.0


class CollectorPacing:
    def __init__(self, clock: Callable[[], float] = time.monotonic, freeze_every_s: float = FREEZE_EVERY_S,
                 full_every_s: float = FULL_EVERY_S) -> None:
        self.clock = clock
        self.freeze_every_s = freeze_every_s
        self.full_every_s = full_every_s
        self.frozen_at = self.full_at = clock()

    def tick(self) -> None:
        """Call often (the worker's one-second timer); does something at most every FREEZE_EVERY_S."""
        now = self.clock()
        if now - self.full_at >= self.full_every_s:
            gc.unfreeze()
            gc.collect()
            self.full_at = now
        elif now - self.frozen_at >= self.freeze_every_s:
            gc.collect(1)  # young garbage is not worth keeping frozen
        else:
            return
        gc.freeze()
        self.frozen_at = now
