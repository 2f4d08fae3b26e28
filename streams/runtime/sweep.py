"""When each partition's customers are re-evaluated without new events (silence, window expiry).

A sweep of a partition starts only when the watermark's day or the closable tick moved since
its last one, at most every `min_interval_s`: advance() catches up every due day in one call,
so sweeping less often changes only when outputs go out, not what they say (during a backlog
the day moves every batch, and a sweep per day of every customer would dominate the work).
A sweep under way is worked through in slices (at least one customer each): short while
input flows, so a day boundary with 100,000 customers does not hold the event loop, and the live
batches, for a minute; of most of each second when no input came for a while (the Pipeline
chooses, Pipeline.sweep_slice_s).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

from handlers.config import HealthConfig
from handlers.customer import due_day
from handlers.timeutil import DAY_MS

# A partition is swept at most this often (when its day or closable tick moved).
SWEEP_MIN_INTERVAL_S = 10.0


def next_tick_close(watermark_ms: int, config: HealthConfig) -> int:
    """The first event time after `watermark_ms` that closes another day's tick: every customer
    is swept when the watermark reaches it (the day's sweep that does the most work)."""
    return (due_day(watermark_ms, config) + 2) * DAY_MS + config.time.lateness_ms


class SweepSchedule:
    def __init__(self, *, config: HealthConfig, clock: Callable[[], float],
                 min_interval_s: float = SWEEP_MIN_INTERVAL_S) -> None:
        self.config = config
        self.clock = clock
        self.min_interval_s = min_interval_s
        self.customers_by_partition: dict[int, set[bytes]] = defaultdict(set)
        # partition -> ((watermark day, closable day), clock time) of its last sweep
        self._swept: dict[int, tuple[tuple[int, int], float]] = {}
        # partition -> (customers still to evaluate, page their open alerts again) of a sweep under way
        self._sweeping: dict[int, tuple[list[bytes], bool]] = {}
        self._restored: set[int] = set()  # partitions (re)gained from the table, open alerts not re-paged yet
        self._finished_at_ms: dict[int, int] = {}  # partition -> watermark its last whole sweep ran at

    def add_customer(self, partition: int, customer_key: bytes) -> None:
        self.customers_by_partition[partition].add(customer_key)

    def under_way(self, partition: int, watermark_ms: int, idle: bool = False) -> tuple[list[bytes], bool] | None:
        """The sweep of a partition to work on now (customers left, re-page), starting one when due.
        idle: no input is coming, so the day will not move again soon; a due sweep starts at once
        instead of min_interval_s after the last (the end of a backlog would wait for it)."""
        pending = self._sweeping.get(partition)
        if pending is not None:
            return pending
        position = (watermark_ms // DAY_MS, due_day(watermark_ms, self.config))
        last_position, last_time = self._swept.get(partition, (None, float("-inf")))
        if last_position == position or (not idle and self.clock() - last_time < self.min_interval_s):
            return None
        self._swept[partition] = (position, self.clock())
        newly_owned = partition in self._restored
        self._restored.discard(partition)
        pending = self._sweeping[partition] = (list(self.customers_by_partition.get(partition, ())), newly_owned)
        return pending

    def finish(self, partition: int, watermark_ms: int) -> None:
        del self._sweeping[partition]
        self._finished_at_ms[partition] = watermark_ms

    def swept_through_ms(self) -> int:
        """The event time every partition with customers has been swept at, whole (0: not yet)."""
        return min((self._finished_at_ms.get(p, 0) for p in self.customers_by_partition), default=0)

    def pending(self) -> int:
        """Customers a sweep under way has still to evaluate (readiness detail, bench)."""
        return sum(len(keys) for keys, _ in self._sweeping.values())

    def restored(self, partition: int) -> set[bytes]:
        """A partition (re)gained: its first sweep pages its open alerts again."""
        self._restored.add(partition)
        return self.customers_by_partition[partition]

    def forget(self, partition: int) -> set[bytes]:
        """A partition left: returns its customers."""
        self._swept.pop(partition, None)
        self._sweeping.pop(partition, None)
        self._finished_at_ms.pop(partition, None)
        self._restored.discard(partition)
        return self.customers_by_partition.pop(partition, set())
