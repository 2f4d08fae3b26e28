"""Catching up a backlog, a customer's evaluation waits for its further events.

Evaluation (close ticks, snapshot, cs.health) waits up to `max_wait_s` after a customer's
events were folded: its further events of the backlog are folded first, and one evaluation
serves them all (advance() catches up every due day in one call, so the outputs say the same,
later). A waiting state is held in memory, so its evaluation needs no second read and decode.
At most `capacity` customers wait: with many customers each seldom seen, waiting coalesces
little and a growing set would only delay outputs.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

from handlers.state import CustomerState


class Deferral:
    def __init__(self, *, max_wait_s: float, capacity: int, budget_s: float,
                 clock: Callable[[], float]) -> None:
        self.max_wait_s = max_wait_s
        self.capacity = capacity
        self.budget_s = budget_s
        self.clock = clock
        # customer -> (since, origin, its state or None: reload it), oldest first
        self._waiting: dict[bytes, tuple[float, Any, CustomerState | None]] = {}

    @property
    def enabled(self) -> bool:
        return self.max_wait_s > 0

    def __len__(self) -> int:
        return len(self._waiting)

    def has_room_for(self, customer_key: bytes) -> bool:
        return customer_key in self._waiting or len(self._waiting) < self.capacity

    def held_state(self, customer_key: bytes) -> CustomerState | None:
        waiting = self._waiting.get(customer_key)
        return None if waiting is None else waiting[2]

    def defer(self, customer_key: bytes, origin: Any, state: CustomerState) -> None:
        waiting = self._waiting.get(customer_key)  # a key set again keeps its place: oldest first
        self._waiting[customer_key] = (waiting[0] if waiting else self.clock(), origin, state)

    def take(self, customer_key: bytes) -> tuple[Any, CustomerState | None] | None:
        """Stop waiting: (origin, held state) when it waited."""
        waiting = self._waiting.pop(customer_key, None)
        return None if waiting is None else (waiting[1], waiting[2])

    def forget_state(self, customer_key: bytes) -> None:
        """The held state is no longer trusted (a failed fold): its evaluation reloads it."""
        waiting = self._waiting.get(customer_key)
        if waiting is not None:
            self._waiting[customer_key] = (waiting[0], waiting[1], None)

    def due(self, overdue_only: bool) -> Iterator[tuple[bytes, Any, CustomerState | None]]:
        """Waiting customers to evaluate now, oldest first, each removed as it is yielded.

        While behind (overdue_only), every one that has waited max_wait_s, however long that
        takes: the evaluation is owed, and a budget would let the set grow and the outputs fall
        ever further behind. Otherwise all of them, for at most budget_s (live events wait meanwhile).
        """
        started = self.clock()
        taken = 0
        while self._waiting:
            customer_key, (since, origin, state) = next(iter(self._waiting.items()))
            if overdue_only and started - since < self.max_wait_s:
                return
            if not overdue_only and taken and self.clock() - started >= self.budget_s:
                return
            del self._waiting[customer_key]
            taken += 1
            yield customer_key, origin, state
