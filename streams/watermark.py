"""The worker's event-time watermark.

The slowest active input decides (as in Flink): during a backlog one topic can race days
ahead of another, and a max-based watermark would close ticks before the slower topics'
events of those days arrived. An input that has sent nothing for `idle_s` stops holding
the watermark back, so a quiet topic (or the end of a stream) does not freeze it.
"""
from __future__ import annotations

import time
from typing import Callable


class Watermark:
    def __init__(self, idle_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle_s
        self.clock = clock
        self.inputs: dict[tuple[str, int], list] = {}  # (topic, partition) -> [max event ms, last seen]
        self.floor = 0  # never goes back: restored from state, or reached before
        self.hold_until = clock() + idle_s

    def observe(self, topic: str, partition: int, event_ms: int) -> None:
        entry = self.inputs.get((topic, partition))
        if entry is None:
            self.inputs[(topic, partition)] = [event_ms, self.clock()]
        else:
            entry[0] = max(entry[0], event_ms)
            entry[1] = self.clock()

    def hold(self) -> None:
        """After (re)assignment: wait one idle period so every input with a backlog has spoken."""
        self.hold_until = self.clock() + self.idle_s

    def restore(self, event_ms: int) -> None:
        self.floor = max(self.floor, event_ms)

    def forget(self, partitions: set[int]) -> None:
        self.inputs = {tp: v for tp, v in self.inputs.items() if tp[1] not in partitions}

    def current(self) -> int:
        now = self.clock()
        if now >= self.hold_until and self.inputs:
            active = [ms for ms, seen in self.inputs.values() if now - seen < self.idle_s]
            candidate = min(active) if active else max(ms for ms, _ in self.inputs.values())
            self.floor = max(self.floor, candidate)
        return self.floor

    def newest(self) -> int:
        """The newest event time seen on any input (for the gauge and /readyz)."""
        return max((ms for ms, _ in self.inputs.values()), default=self.floor)
