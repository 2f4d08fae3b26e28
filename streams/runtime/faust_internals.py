"""Every use of faust-streaming's and aiokafka's private attributes, in one place.

Faust keeps no public handle on what cshealth needs: the partition context of table reads
and writes, a partition's committed and read positions, aiokafka's knowledge of when it last
heard a high-water mark, and the worker's signal handling. Each is reached here and nowhere
else; tests/stream/test_faust_internals.py pins the versions these were written against and
checks every attribute still exists, so an upgrade that moves one fails there first.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
import weakref
from typing import Any, Iterable, Iterator

import faust
from faust.streams import _current_event
from faust.types import TP

from streams.settings import Settings

# The versions whose internals this module was written against.
FAUST_VERSION = "0.15.3"
AIOKAFKA_VERSION = "0.14.0"

log = logging.getLogger(__name__)


@contextlib.contextmanager
def event_context(origin: Any) -> Iterator[None]:
    """Run table reads and writes as if `origin` (a Faust event) were the current event: Faust
    picks the RocksDB partition DB from it, and a batch mixes partitions."""
    token = _current_event.set(weakref.ref(origin) if origin is not None else None)
    try:
        yield
    finally:
        _current_event.reset(token)


def committed_offset(app: faust.App, tp: TP) -> int | None:
    return app.consumer._committed_offset.get(tp)


def read_offset(app: faust.App, tp: TP) -> int | None:
    return app.consumer._read_offset.get(tp)


def drop_delivered(app: faust.App, message: Any) -> None:
    """A delivered message that is not folded: marked acknowledged without the consumer counting
    its offset, so no commit passes it (it is delivered again after a rewind)."""
    message.acked = True
    app.consumer._unacked_messages.discard(message)


async def rewind(app: faust.App, tp: TP, offset: int) -> None:
    """Deliver the partition again from `offset`: aiokafka seeks in its own thread and Faust's read
    offset follows (its seek_wait); the gaps Faust noted past it (offsets it would count as acked
    in commits) are dropped, since the records there were not folded."""
    app.consumer._gap[tp].chop(offset, sys.maxsize)
    await app.consumer.seek_wait({tp: offset})


def count_as_acked(app: faust.App, tp: TP, start: int, end: int) -> None:
    """Offsets start..end-1 hold no records (a confirmed hole): commits may pass them."""
    app.consumer._gap[tp].addi(start, end)


def highwater_told_ms(app: faust.App, tp: TP) -> int | None:
    """When aiokafka's fetcher last received the partition's high-water mark (epoch ms)."""
    return app.consumer._thread._ensure_consumer().last_poll_timestamp(tp)


async def force_metadata_update(consumer) -> None:
    """An aiokafka consumer's metadata refreshed now (fresh topics: partitions_for_topic needs it)."""
    await consumer._client.force_metadata_update()


class FaustPositions:
    """The runtime's KafkaPositions port over Faust's consumer."""

    def __init__(self, app: faust.App, input_topics: Iterable[str]) -> None:
        self.app = app
        self.input_topics = set(input_topics)

    def end_offset(self, topic: str, partition: int) -> int | None:
        """The partition's end offset (high-water mark) as the consumer last heard it."""
        try:
            return self.app.consumer.highwater(TP(topic, partition))
        except Exception:  # no consumer yet, or the partition is not assigned
            return None

    def unread(self, topic: str, partition: int, after_offset: int | None) -> int | None:
        highwater = self.end_offset(topic, partition)
        if highwater is None:
            return None
        if after_offset is None:  # nothing committed yet: from the start
            return highwater - (committed_offset(self.app, TP(topic, partition)) or 0)
        return highwater - after_offset - 1

    def highwater_age(self, topic: str, partition: int) -> float | None:
        try:
            told_ms = highwater_told_ms(self.app, TP(topic, partition))
        except Exception:  # no consumer yet, or the partition is not assigned
            return None
        return None if told_ms is None else max(0.0, time.time() - told_ms / 1000)

    def assigned_inputs(self) -> list[tuple[str, int]]:
        return [(tp.topic, tp.partition) for tp in self.app.assignor.assigned_actives()
                if tp.topic in self.input_topics]

    def assigned_partitions(self, topic: str) -> list[int]:
        return [tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic]

    def lag(self, tp: TP) -> int:
        """Records of an assigned input partition not read yet (the consumer-lag gauge)."""
        highwater = self.app.consumer.highwater(tp)
        if not highwater:
            return 0
        read = read_offset(self.app, tp)
        return max(0, highwater - (read + 1 if read is not None else 0))


class BoundedShutdownWorker(faust.Worker):
    """Faust's worker with a deadline on its shutdown.

    Faust's stop waits on Kafka (last commit, producer flush, leaving the group); with the broker
    already gone it waits for ever, and SIGTERM never ends the process (an orchestrator then
    kills it anyway, later). Exiting without the last commit loses nothing: every state written
    is in the local store, and events after the last committed offset are read again and
    recognised by their offsets (CustomerState.applied_offsets)."""

    def __init__(self, app: faust.App, *, shutdown_deadline_s: float, **options) -> None:
        super().__init__(app, **options)
        self.shutdown_deadline_s = shutdown_deadline_s

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        if not self._signal_stop_time:  # the first signal starts the clock
            timer = threading.Timer(self.shutdown_deadline_s, self._give_up, args=(signum,))
            timer.daemon = True
            timer.start()
        super()._schedule_shutdown(signum)

    def _give_up(self, signum: signal.Signals) -> None:
        log.error("shutdown after %s did not finish in %.0f s (is Kafka reachable?): exiting now",
                  signum.name, self.shutdown_deadline_s)
        logging.shutdown()
        os._exit(1)


def run_worker(app: faust.App, settings: Settings) -> None:
    """Run a Faust app as this process, its shutdown bounded by the settings' deadline."""
    BoundedShutdownWorker(app, shutdown_deadline_s=settings.shutdown_deadline_s, console_port=None,
                          loglevel=logging.getLevelName(settings.log_level.upper())).execute_from_commandline()
