"""The worker's event-time watermark.

The slowest input that still has records to deliver decides (as in Flink): during a
backlog one topic can race days ahead of another, and a max-based watermark would close
ticks before the slower topics' events of those days arrived. An input that is caught up
(nothing pending behind its high-water mark) stops holding the watermark back, so a quiet
topic, or the end of a stream, does not freeze it. Where the pending count is unknown, an
input that has sent nothing for `idle_s` counts as caught up.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable


class Watermark:
    def __init__(self, idle_s: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 pending: Callable[[str, int, int | None], int | None] | None = None,
                 assigned: Callable[[], Iterable[tuple[str, int]]] | None = None) -> None:
        """pending(topic, partition, last offset or None) counts records not yet processed;
        assigned() lists the input partitions this worker owns (default: those seen)."""
        self.idle_s = idle_s
        self.clock = clock
        self.pending = pending or (lambda topic, partition, offset: None)
        self.assigned = assigned or (lambda: list(self.inputs))
        self.inputs: dict[tuple[str, int], list] = {}  # (topic, partition) -> [max event ms, last seen, offset]
        self.floor = 0  # never goes back: restored from state, or reached before
        self.hold_until = clock() + idle_s
        # An unread input blocks the watermark at most this long (e.g. its old records were deleted).
        self.max_wait_s = 6 * idle_s
        self.blocked_since: dict[tuple[str, int], float] = {}

    def observe(self, topic: str, partition: int, event_ms: int, offset: int) -> None:
        entry = self.inputs.get((topic, partition))
        if entry is None:
            self.inputs[(topic, partition)] = [event_ms, self.clock(), offset]
        else:
            entry[0] = max(entry[0], event_ms)
            entry[1] = self.clock()
            entry[2] = max(entry[2], offset)

    def _holding(self, tp: tuple[str, int], seen: float, offset: int, now: float) -> bool:
        behind = self.pending(tp[0], tp[1], offset)
        return now - seen < self.idle_s if behind is None else behind > 0

    def hold(self) -> None:
        """After (re)assignment: wait one idle period so every input with a backlog has spoken."""
        self.hold_until = self.clock() + self.idle_s

    def restore(self, event_ms: int) -> None:
        self.floor = max(self.floor, event_ms)

    def forget(self, partitions: set[int]) -> None:
        self.inputs = {tp: v for tp, v in self.inputs.items() if tp[1] not in partitions}

    def current(self) -> int:
        now = self.clock()
        if now < self.hold_until or not self.inputs:
            return self.floor
        holding = []
        for tp in self.assigned():
            entry = self.inputs.get(tp)
            if entry is None:
                if self.pending(tp[0], tp[1], None) and now - self.blocked_since.setdefault(tp, now) < self.max_wait_s:
                    return self.floor  # an input with unread records we know nothing of yet: wait
                continue
            ms, seen, offset = entry
            if self._holding(tp, seen, offset, now):
                holding.append(ms)
        candidate = min(holding) if holding else max(ms for ms, _, _ in self.inputs.values())
        self.floor = max(self.floor, candidate)
        return self.floor

    def newest(self) -> int:
        """The newest event time seen on any input (for the gauge and /readyz)."""
        return max((ms for ms, _, _ in self.inputs.values()), default=self.floor)
