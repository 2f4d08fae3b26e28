"""The port through which the runtime asks Kafka where its input partitions stand.

The worker implements it over Faust's consumer (streams.runtime.faust_internals); tests use
fixed answers. Every answer may be None: not known (yet), e.g. before the first fetch.
"""
from __future__ import annotations

from typing import Iterable, Protocol


class KafkaPositions(Protocol):
    def unread(self, topic: str, partition: int, after_offset: int | None) -> int | None:
        """Records after `after_offset` (None: after the committed position) up to the high-water mark."""

    def assigned_inputs(self) -> Iterable[tuple[str, int]] | None:
        """The input partitions this worker owns (None: those seen so far)."""

    def highwater_age(self, topic: str, partition: int) -> float | None:
        """Seconds since Kafka last told the partition's high-water mark (None: never)."""

    def assigned_partitions(self, topic: str) -> Iterable[int] | None:
        """The partitions of any topic this worker reads (None: not known)."""


class UnknownPositions:
    """Kafka's positions unknown: nothing counts as unread, inputs are those seen, high-water
    marks are fresh. What the runtime assumes without a broker (tests, the bench's in-memory runs)."""

    def unread(self, topic: str, partition: int, after_offset: int | None) -> int | None:
        return None

    def assigned_inputs(self) -> Iterable[tuple[str, int]] | None:
        return None

    def highwater_age(self, topic: str, partition: int) -> float | None:
        return 0.0

    def assigned_partitions(self, topic: str) -> Iterable[int] | None:
        return None
