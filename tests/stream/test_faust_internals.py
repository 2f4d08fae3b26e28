"""streams.runtime.faust_internals reaches into faust-streaming's and aiokafka's private
attributes; these checks fail first when an upgrade moves one of them."""
from __future__ import annotations

import contextvars
import inspect
from importlib.metadata import version

import aiokafka
import faust
import mode
from aiokafka.client import AIOKafkaClient
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.runtime import faust_internals


def test_the_pinned_versions_are_the_installed_ones():
    assert version("faust-streaming") == faust_internals.FAUST_VERSION
    assert version("aiokafka") == faust_internals.AIOKAFKA_VERSION


def test_the_current_event_is_a_context_variable():
    import faust.streams

    assert isinstance(faust.streams._current_event, contextvars.ContextVar)


def test_the_consumer_keeps_committed_and_read_offsets():
    init = inspect.getsource(faust_consumer.Consumer.__init__)
    assert "self._committed_offset" in init and "self._read_offset" in init


def test_rewinding_relies_on_the_consumers_gaps_unacked_set_and_seek_wait():
    """faust_internals.rewind / drop_delivered / count_as_acked: commits count the gaps as acked
    (_new_offset), a message marked acked is not counted again (Message.ack), seek_wait moves the
    read offset with the position."""
    from faust.types.tuples import Message

    init = inspect.getsource(faust_consumer.Consumer.__init__)
    assert "self._gap = defaultdict(IntervalTree)" in init and "self._unacked_messages" in init
    assert "self._gap[tp]" in inspect.getsource(faust_consumer.Consumer._new_offset)
    assert "if not self.acked" in inspect.getsource(Message.ack)
    seek_wait = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread._seek_wait)
    assert "consumer.seek(tp, offset)" in seek_wait and "_read_offset[tp] = offset" in seek_wait


def test_the_aiokafka_consumer_is_reached_through_the_consumer_thread():
    assert "self._thread" in inspect.getsource(faust_consumer.ThreadDelegateConsumer)
    assert callable(faust_aiokafka.AIOKafkaConsumerThread._ensure_consumer)
    assert callable(aiokafka.AIOKafkaConsumer.last_poll_timestamp)
    assert callable(AIOKafkaClient.force_metadata_update)


def test_the_worker_schedules_its_shutdown_on_a_signal():
    assert callable(faust.Worker._schedule_shutdown)
    assert "self._signal_stop_time" in inspect.getsource(mode.Worker)
    assert issubclass(faust_internals.BoundedShutdownWorker, faust.Worker)


def test_no_other_module_reaches_into_faust_or_aiokafka_privates():
    """Private attributes of Faust's and aiokafka's objects are used in the two adapter modules
    only: faust_internals (reads) and faust_delivery (the consumer override, pinned by
    tests/stream/test_faust_delivery.py)."""
    import pathlib
    import re

    private = re.compile(r"\b(_current_event|_committed_offset|_read_offset|_ensure_consumer|_client\.force|_gap\b|_unacked_messages)")
    streams = pathlib.Path(faust_internals.__file__).parents[1]
    offenders = [str(path) for path in streams.rglob("*.py")
                 if path.name not in ("faust_internals.py", "faust_delivery.py") and private.search(path.read_text())]
    assert offenders == []
