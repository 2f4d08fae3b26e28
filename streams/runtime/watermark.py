"""The worker's event-time watermark.

The slowest input that is still delivering decides (as in Flink): during a backlog one
topic can race days ahead of another, and a max-based watermark would close ticks before
the slower topics' events of those days arrived. An input holds the watermark back while
records keep coming from it (within `idle_s`) or Kafka says it has unread records; one
that is quiet and caught up lets go, so a quiet topic, or the end of a stream, does not
freeze it. "Caught up" needs a high-water mark Kafka told after the input's last record:
while fetches fail (broker unreachable) the last one known is stale, and an input that
merely stopped hearing from Kafka would let go of days its unread records still hold.
For `idle_s` after the stream starts or resumes after a quiet spell, every assigned input
holds (one not heard from yet blocks): high-water marks are stale until each partition's
next fetch, and the fetcher reaches every partition by then.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable

from handlers.timeutil import iso
from streams.runtime.positions import KafkaPositions, UnknownPositions
from streams.runtime.rekey_hold import RekeyHold

log = logging.getLogger("cshealth.watermark")
MAX_EVENT_MS = 2**63 - 1

# Default quiet time before a caught-up input lets go (CSHEALTH_WATERMARK_IDLE_S).
IDLE_S = 5.0


class Watermark:
    def __init__(self, idle_s: float = IDLE_S, clock: Callable[[], float] = time.monotonic,
                 positions: KafkaPositions | None = None, ceiling: Callable[[], int] | None = None,
                 rekey_hold: RekeyHold | None = None) -> None:
        """clock: the runtime's monotonic clock; positions: where Kafka says the inputs stand
        (default: unknown, so inputs are those seen and nothing counts as unread); ceiling():
        the event time the watermark never passes (the wall clock plus the allowed skew;
        default: none); rekey_hold: re-keyed records on their way (default: none)."""
        self.rekey_hold = rekey_hold
        self.idle_s = idle_s
        self.ceiling = ceiling or (lambda: MAX_EVENT_MS)
        self.clock = clock
        self.positions = positions or UnknownPositions()
        self.inputs: dict[tuple[str, int], list] = {}  # (topic, partition) -> [max event ms, last seen, offset]
        self.floor = 0  # never goes back: restored from state, or reached before
        self.hold_until = clock() + idle_s
        self.first_record_at: float | None = None
        self.last_record_at = 0.0

    def pending(self, topic: str, partition: int, offset: int | None) -> int | None:
        """Unread records of an input after `offset` (None: after its committed position)."""
        return self.positions.unread(topic, partition, offset)

    def assigned(self) -> Iterable[tuple[str, int]]:
        assigned = self.positions.assigned_inputs()
        return list(self.inputs) if assigned is None else assigned

    def highwater_age(self, topic: str, partition: int) -> float | None:
        return self.positions.highwater_age(topic, partition)

    def observe(self, topic: str, partition: int, event_ms: int | None, offset: int) -> None:
        """A record read from an input: `event_ms` its event time, None when it was not folded
        (dead-lettered, re-keyed, an employee survey). Every record moves the input's position,
        so a partition whose last record was rejected does not count as having unread ones."""
        now = self.clock()
        if self.first_record_at is None or now - self.last_record_at >= self.idle_s:
            # The stream (re)starts: high-water marks are stale until each partition's next
            # fetch, so every input holds for one idle period, as at start-up.
            self.first_record_at = now
        self.last_record_at = now
        entry = self.inputs.get((topic, partition))
        if entry is None:
            self.inputs[(topic, partition)] = [event_ms, now, offset]
        else:
            if event_ms is not None:
                entry[0] = event_ms if entry[0] is None else max(entry[0], event_ms)
            entry[1] = now
            entry[2] = max(entry[2], offset)

    def hold(self) -> None:
        """After (re)assignment: wait one idle period so every input with a backlog has spoken."""
        self.hold_until = self.clock() + self.idle_s
        self.first_record_at = None

    def restore(self, event_ms: int) -> None:
        ceiling = self.ceiling()
        if event_ms > ceiling:
            log.warning("the persisted event-time watermark %s lies beyond wall clock + the allowed skew: "
                        "clamped to %s", iso(event_ms), iso(ceiling))
            event_ms = ceiling
        self.floor = max(self.floor, event_ms)

    def read_positions(self, partition: int) -> dict[str, list[int]]:
        """Input topic -> [newest event ms, last offset read] of the inputs on `partition`."""
        return {topic: [entry[0], entry[2]] for (topic, p), entry in self.inputs.items()
                if p == partition and entry[0] is not None}

    def restore_positions(self, partition: int, positions: dict[str, list[int]]) -> None:
        """After a restart: what an earlier process read of these inputs, as if read just now. Its
        records are not read again (their offsets are committed), and the newest of them may be
        the newest event of the stream: without it event time would stop short of it."""
        now = self.clock()
        for topic, (event_ms, offset) in positions.items():
            entry = self.inputs.get((topic, partition))
            if entry is None:
                self.inputs[(topic, partition)] = [event_ms, now, offset]
            elif offset > entry[2] or entry[0] is None:
                entry[0] = event_ms if entry[0] is None else max(entry[0], event_ms)
                entry[2] = max(entry[2], offset)

    def forget(self, partitions: set[int]) -> None:
        self.inputs = {tp: v for tp, v in self.inputs.items() if tp[1] not in partitions}
        if self.rekey_hold is not None:
            self.rekey_hold.forget(partitions)

    def _in_grace(self, now: float) -> bool:
        return self.first_record_at is not None and now - self.first_record_at < self.idle_s

    def _unread_blocks(self, tp: tuple[str, int], now: float) -> bool:
        if self._in_grace(now):
            return True
        # However long the agent takes to reach it (a restart into a backlog on a busy machine
        # takes minutes): letting go earlier closes days its records still hold. Records deleted
        # by retention do not keep it blocked: the consumer starts at the log's start, and the
        # first record read makes it an input heard from.
        return self.highwater_age(*tp) is None or bool(self.pending(tp[0], tp[1], None))

    def _holding(self, tp: tuple[str, int], seen: float, offset: int, now: float) -> bool:
        if now - seen < self.idle_s or self._in_grace(now):
            return True
        highwater_age = self.highwater_age(*tp)
        if highwater_age is None or highwater_age > now - seen:
            return True  # nothing heard from Kafka since its last record: unread ones may wait there
        return bool(self.pending(tp[0], tp[1], offset))

    def current(self) -> int:
        now = self.clock()
        if now < self.hold_until or not self.inputs:
            return self.floor
        if self.rekey_hold is not None and self.rekey_hold.blocks():
            return self.floor  # re-keyed records of unknown age wait on a partition of ours
        holding = []
        for tp in self.assigned():
            entry = self.inputs.get(tp)
            if entry is None:
                if self._unread_blocks(tp, now):
                    return self.floor
            elif entry[0] is not None and self._holding(tp, entry[1], entry[2], now):
                holding.append(entry[0])
        candidate = min(holding) if holding else self.newest()
        in_flight = None if self.rekey_hold is None else self.rekey_hold.oldest()
        if in_flight is not None:
            candidate = min(candidate, in_flight)
        # A producer's wrong clock must not close days that have not begun.
        self.floor = max(self.floor, min(candidate, self.ceiling()))
        return self.floor

    def newest(self) -> int:
        """The newest event time folded from any input (for the gauge and /readyz)."""
        return max((entry[0] for entry in self.inputs.values() if entry[0] is not None), default=self.floor)
