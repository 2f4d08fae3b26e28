"""Each input partition folded in offset order, without a hole.

A customer's state skips every record at or below the offset it last applied from a partition
(that is what makes a re-delivery harmless), so a record delivered after a later one of its
partition would be skipped for good. Kafka's consumer can deliver out of order around a seek:
records fetched before a rebalance's or a restart's seek to the committed offsets can still be
delivered after it, and the records fetched again from the committed offset are then dropped as
already read (faust-streaming 0.15.3, both deliveries; docs/faust-delivery.md).

ReadOrder admits a record only if its offset is the next one expected from its partition (or
below it: a re-read, which the states recognise). The first record a process takes from a
partition is expected at the offset committed in Kafka (the worker passes it to start():
Faust's copy when it has one, else asked of Kafka, since Faust drops its copy at every
rebalance and fills it only after its seek). A record past the expected offset is not folded;
the worker rewinds the partition to the expected offset and Kafka delivers it again.
The rewind is repeated every `rewind_interval_s` until the expected record comes: records
fetched before a rewind (a stream buffer's worth) are refused without a rewind each, and a
rewind whose records Faust dropped as already read (its read offset moved on by such a
record) is followed by another, also on a partition that has gone quiet.

A hole can be real: offsets of transaction markers, or records deleted by retention before
they were read. Rewinding then brings the same first record back; after `confirm_after`
rewinds that all end at the same offset, the hole is accepted (logged, counted).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger("cshealth.read_order")

Partition = tuple[str, int]
# How many rewinds must end at the same first offset before a hole counts as real: records
# fetched before a rewind can still arrive after it, a few batches at most.
CONFIRM_AFTER = 5
REWIND_INTERVAL_S = 1.0


@dataclass
class _Hole:
    expected: int
    first_after: int  # the first offset delivered past `expected` since the last rewind
    rewinds: int = 0
    seen_since_rewind: bool = True
    rewound_at: float = -math.inf


class ReadOrder:
    def __init__(self, confirm_after: int = CONFIRM_AFTER, rewind_interval_s: float = REWIND_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.confirm_after = confirm_after
        self.rewind_interval_s = rewind_interval_s
        self._clock = clock
        self._next: dict[Partition, int] = {}
        self._holes: dict[Partition, _Hole] = {}  # partitions waiting for their expected record
        self._accepted: list[tuple[Partition, int, int]] = []

    def unstarted(self, partitions: set[Partition]) -> set[Partition]:
        """The partitions among these that need start() before their first admit()."""
        return {key for key in partitions if key not in self._next}

    def start(self, partition: Partition, committed: int | None) -> None:
        """The first record this process takes from the partition is expected at its committed
        offset in Kafka (None: nothing committed, from offset 0)."""
        self._next.setdefault(partition, committed or 0)

    def admit(self, topic: str, partition: int, offset: int) -> bool:
        """True: fold the record. False: the partition has a hole before it; see take_rewinds()."""
        key = (topic, partition)
        expected = self._next[key]
        if offset < expected:
            return True  # read again (a seek back, a restart): the states skip what they have
        if offset == expected:
            self._next[key] = offset + 1
            self._holes.pop(key, None)
            return True
        hole = self._holes.get(key)
        if hole is None or hole.expected != expected:
            hole = self._holes[key] = _Hole(expected, offset)
        elif not hole.seen_since_rewind:
            hole.seen_since_rewind = True
            if offset == hole.first_after:
                hole.rewinds += 1
            else:
                hole.first_after, hole.rewinds = offset, 0
        if hole.rewinds >= self.confirm_after:
            log.warning("%s:%d has no records at offsets %d..%d (transaction markers, or deleted by retention "
                        "before they were read): reading on from %d", topic, partition, expected, offset - 1, offset)
            self._next[key] = offset + 1
            del self._holes[key]
            self._accepted.append((key, expected, offset))
            return True
        return False

    def take_rewinds(self) -> dict[Partition, tuple[int, int]]:
        """The partitions to read again now: partition -> (expected offset, first offset delivered past it)."""
        now = self._clock()
        due = {}
        for key, hole in self._holes.items():
            if now - hole.rewound_at >= self.rewind_interval_s:
                hole.rewound_at, hole.seen_since_rewind = now, False
                due[key] = (hole.expected, hole.first_after)
        return due

    def take_accepted_holes(self) -> list[tuple[Partition, int, int]]:
        """Holes accepted as real since the last call: (partition, first missing offset, next record's)."""
        holes, self._accepted = self._accepted, []
        return holes

    def forget(self, partitions: set[Partition]) -> None:
        """Partitions revoked: a later assignment starts again from the committed offset."""
        for key in partitions:
            self._next.pop(key, None)
            self._holes.pop(key, None)
