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

A hole at a partition's end has no later record to reveal it. Faust drops records it has
delivered into a stream's buffer when a rebalance's recovery ends (`flow_control.resume()`
clears every stream queue; the fetcher runs, and delivers, while the recovery seeks to the
committed offsets), and when the seek leaves the consumer past them nothing reads them again:
a partition whose last records were dropped so would stay unread until its next record, holding
the watermark. So a partition with records below its end offset in Kafka, none of which reached
the agent for `stall_after_s` and `stall_after_batches` batches, is read again from the expected
offset too; when `confirm_after` such rewinds bring nothing (the end is transaction markers, or
the fetcher has not served the partition yet), the partition is read on past them (logged) but
commits do not pass them: records that come later still fold (see ReadOrder.take_stalled).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable

log = logging.getLogger("cshealth.read_order")

Partition = tuple[str, int]
# How many rewinds must end at the same first offset before a hole counts as real: records
# fetched before a rewind can still arrive after it, a few batches at most.
CONFIRM_AFTER = 5
REWIND_INTERVAL_S = 1.0
# A partition with unread records counts as stalled once none of its records reached the agent
# for this long and this many batches: a batch takes the stream's buffer in order, so records
# waiting in it arrive within a few batches; one slow batch alone never makes a partition stall.
STALL_AFTER_S = 5.0
STALL_AFTER_BATCHES = 5


@dataclass
class _Hole:
    expected: int
    first_after: int  # the first offset delivered past `expected` since the last rewind
    rewinds: int = 0
    seen_since_rewind: bool = True
    rewound_at: float = -math.inf


@dataclass
class _Stall:
    expected: int
    end: int
    rewinds: int = 0


class ReadOrder:
    def __init__(self, confirm_after: int = CONFIRM_AFTER, rewind_interval_s: float = REWIND_INTERVAL_S,
                 stall_after_s: float = STALL_AFTER_S, stall_after_batches: int = STALL_AFTER_BATCHES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.confirm_after = confirm_after
        self.rewind_interval_s = rewind_interval_s
        self.stall_after_s = stall_after_s
        self.stall_after_batches = stall_after_batches
        self._clock = clock
        self._next: dict[Partition, int] = {}
        self._holes: dict[Partition, _Hole] = {}  # partitions waiting for their expected record
        self._accepted: list[tuple[Partition, int, int]] = []
        self._batches = 0  # batches taken by the agent
        self._seen: dict[Partition, tuple[float, int]] = {}  # partition -> (clock, batch) a record last came
        self._stalls: dict[Partition, _Stall] = {}

    def unstarted(self, partitions: set[Partition]) -> set[Partition]:
        """The partitions among these that need start() before their first admit()."""
        return {key for key in partitions if key not in self._next}

    def start(self, partition: Partition, committed: int | None) -> None:
        """The first record this process takes from the partition is expected at its committed
        offset in Kafka (None: nothing committed, from offset 0)."""
        self._next.setdefault(partition, committed or 0)
        self._seen.setdefault(partition, (self._clock(), self._batches))

    def taken(self, partitions: Iterable[Partition]) -> None:
        """The agent took a batch with records of these partitions (before admitting them)."""
        self._batches += 1
        now = self._clock()
        for key in partitions:
            self._seen[key] = (now, self._batches)

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
            del self._holes[key]
            self._read_past(key, expected, offset, "transaction markers, or deleted by retention before they were read")
            self._next[key] = offset + 1  # the record at `offset` is folded now
            return True
        return False

    def _read_past(self, key: Partition, expected: int, first_record: int, why: str, counted: bool = True) -> None:
        """Offsets expected..first_record-1 hold no record: read on from first_record; `counted`:
        commits may pass them (see take_accepted_holes)."""
        log.warning("%s:%d has no records at offsets %d..%d (%s): reading on from %d%s",
                    key[0], key[1], expected, first_record - 1, why, first_record,
                    "" if counted else ", commits wait for them")
        self._next[key] = first_record
        if counted:
            self._accepted.append((key, expected, first_record))

    def take_rewinds(self) -> dict[Partition, tuple[int, int]]:
        """The partitions to read again now: partition -> (expected offset, first offset delivered past it)."""
        now = self._clock()
        due = {}
        for key, hole in self._holes.items():
            if now - hole.rewound_at >= self.rewind_interval_s:
                hole.rewound_at, hole.seen_since_rewind = now, False
                due[key] = (hole.expected, hole.first_after)
        return due

    def take_stalled(self, end_offset: Callable[[Partition], int | None]) -> dict[Partition, int]:
        """The partitions to read again now because records the consumer has below their end
        offset never came (see the module doc): partition -> expected offset. `end_offset`: Kafka's
        end offset (high-water mark) of a partition as the consumer last heard it, None if unknown."""
        now = self._clock()
        due = {}
        for key, expected in self._next.items():
            seen_at, seen_batch = self._seen.get(key, (now, self._batches))
            if (key in self._holes or now - seen_at < self.stall_after_s
                    or self._batches - seen_batch < self.stall_after_batches):
                continue
            end = end_offset(key)
            if end is None or end <= expected:
                self._stalls.pop(key, None)
                continue
            self._seen[key] = (now, self._batches)  # the next check waits as long again
            stall = self._stalls.get(key)
            if stall is None or (stall.expected, stall.end) != (expected, end):
                stall = self._stalls[key] = _Stall(expected, end)
            if stall.rewinds >= self.confirm_after:
                del self._stalls[key]
                # Not counted: no later record shows these offsets empty. They may be records that
                # are only late (in a backlog the fetcher can leave a partition unserved for a
                # minute: docs/faust-delivery.md); they still fold when they come (admit), but
                # counted as acked, Faust commits past all of them at the partition's first acks,
                # and a crash before they came would lose them. A real hole is accepted once a
                # later record shows it (admit's rewinds), at the latest when a restart reads it.
                self._read_past(key, expected, end, "transaction markers, or a partition the fetcher has not "
                                "served yet", counted=False)
                continue
            stall.rewinds += 1
            due[key] = expected
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
            self._seen.pop(key, None)
            self._stalls.pop(key, None)
