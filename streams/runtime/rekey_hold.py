"""Event time held for re-keyed records on their way to their customer's partition.

A record keyed by something else than its customer (or written by another partitioner, or to
a topic with more partitions than the worker's) is sent to the re-key topic and folded when
it is read back from there. Its input's position moved when it was read the first time, so
without a hold the watermark could close its day while it travels: during a backlog event
time races days ahead in seconds, and the re-key topic merges several inputs out of event-time
order, so neither its own position nor the source's tells how old its unread records are.

Two holds cover the trip:
- a record this worker re-keyed holds event time at its own event time until this worker
  reads it back (its customer's partition is this worker's) or Kafka acknowledged it (the
  partition is another worker's, whose hold below takes over);
- an owned re-key partition with unread records this worker does not know of (written before
  a restart, or by another worker) blocks event time until they are read.
"""
from __future__ import annotations

import heapq
import itertools
import os

from streams.runtime.positions import KafkaPositions

REKEY_HOLD_HEADER = "cshealth-rekey-hold"


class RekeyHold:
    def __init__(self, topic: str, positions: KafkaPositions) -> None:
        """topic: the re-key topic; positions: where Kafka says its partitions stand, and which
        of them this worker reads (not known: all count as this worker's)."""
        self.topic = topic
        self.positions = positions
        # Tokens are this incarnation's own: a record re-keyed before a restart is not mistaken
        # for one this process holds.
        self._prefix = f"{os.getpid()}-{os.urandom(4).hex()}-".encode()
        self._sequence = itertools.count()
        self._held: dict[bytes, tuple[int, int]] = {}  # token -> (event ms, target partition)
        self._oldest: list[tuple[int, bytes]] = []  # heap of (event ms, token); stale entries skipped
        self._acknowledged: dict[int, int] = {}  # partition -> held records Kafka has acknowledged
        self._unacknowledged: set[bytes] = set()
        self._read_to: dict[int, int] = {}  # partition -> last offset read

    def hold(self, event_ms: int, partition: int) -> bytes:
        """A record is being re-keyed to `partition`: returns the token its header carries."""
        token = self._prefix + str(next(self._sequence)).encode()
        self._held[token] = (event_ms, partition)
        self._unacknowledged.add(token)
        heapq.heappush(self._oldest, (event_ms, token))
        return token

    def acknowledged(self, token: bytes) -> None:
        """Kafka stored the re-keyed record: from now on the partition's high-water mark counts it."""
        self._unacknowledged.discard(token)
        entry = self._held.get(token)
        if entry is None:
            return
        partition = entry[1]
        owned = self.positions.assigned_partitions(self.topic)
        if owned is not None and partition not in set(owned):
            del self._held[token]  # its partition's owner holds it while it is unread there
            return
        self._acknowledged[partition] = self._acknowledged.get(partition, 0) + 1

    def read(self, partition: int, offset: int, token: bytes | None) -> None:
        """A record read from the re-key topic (`token` from its header, if any)."""
        self._read_to[partition] = max(offset, self._read_to.get(partition, -1))
        entry = self._held.pop(token, None) if token else None
        if entry is not None and token not in self._unacknowledged:
            self._acknowledged[partition] = max(0, self._acknowledged.get(partition, 0) - 1)
        if token:
            self._unacknowledged.discard(token)

    def oldest(self) -> int | None:
        """The event time of the oldest record in flight (None: none)."""
        heap = self._oldest
        while heap and heap[0][1] not in self._held:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def blocks(self) -> bool:
        """An owned re-key partition has unread records this worker did not write, or Kafka has
        not told its high-water mark yet (after a start or a rebalance)."""
        owned = self.positions.assigned_partitions(self.topic)
        if owned is None:
            return False
        for partition in owned:
            if self.positions.highwater_age(self.topic, partition) is None:
                return True
            unread = self.positions.unread(self.topic, partition, self._read_to.get(partition))
            if unread and unread > self._acknowledged.get(partition, 0):
                return True
        return False

    def forget(self, partitions: set[int]) -> None:
        """Partitions gone to another worker: it holds for their unread records."""
        self._held = {t: v for t, v in self._held.items() if v[1] not in partitions}
        for partition in partitions:
            self._acknowledged.pop(partition, None)
            self._read_to.pop(partition, None)
