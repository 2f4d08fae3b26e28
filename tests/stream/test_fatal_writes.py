"""A failed Kafka send or local state write ends the worker at once (no graceful stop that
would commit offsets past what never reached Kafka)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

import streams.runtime.app as app_module
from streams.runtime.app import EXIT_KAFKA_WRITE_FAILED, FaustTableStore, KafkaOutbox


class Stopped(Exception):
    pass


@pytest.fixture
def stops(monkeypatch) -> list[str]:
    reasons: list[str] = []

    def stop_at_once(reason: str) -> None:
        reasons.append(reason)
        raise Stopped(reason)

    monkeypatch.setattr(app_module, "stop_at_once", stop_at_once)
    return reasons


def failed_future(exc: BaseException):
    future = asyncio.new_event_loop().create_future()
    future.set_exception(exc)
    return future


def test_a_failed_send_stops_the_worker(stops):
    outbox = KafkaOutbox(SimpleNamespace())
    with pytest.raises(Stopped):
        outbox.note_failure(failed_future(RuntimeError("MessageSizeTooLarge")))
    assert "a Kafka send failed" in stops[0] and "MessageSizeTooLarge" in stops[0]


def test_a_failed_state_write_stops_the_worker(stops):
    class BrokenData(dict):
        def __setitem__(self, key, value):
            raise OSError("No space left on device")

    table = SimpleNamespace(data=BrokenData(), changelog_topic=SimpleNamespace(get_topic_name=lambda: "changelog"))
    store = FaustTableStore(table, KafkaOutbox(SimpleNamespace()))
    class Event:  # Faust keeps the current event by weak reference
        message = SimpleNamespace(partition=0)

    with pytest.raises(Stopped):
        store.put(b"c1", b"state", Event())
    assert "No space left on device" in stops[0]


def test_a_failed_changelog_offset_write_stops_the_worker(stops):
    """Kafka acknowledged the changelog record, then the local store refuses its offset (RocksDB
    after a failed flush refuses every write): a worker that went on would run on a broken store."""
    class BrokenOffsets(dict):
        def set_persisted_offset(self, tp, offset):
            raise OSError("IO error: While appending to file: 000008.sst: File too large")

    table = SimpleNamespace(data=BrokenOffsets(), changelog_topic=SimpleNamespace(get_topic_name=lambda: "changelog"))
    store = FaustTableStore(table, KafkaOutbox(SimpleNamespace()))
    acknowledged = asyncio.new_event_loop().create_future()
    acknowledged.set_result(SimpleNamespace(topic="changelog", partition=0, offset=7))
    with pytest.raises(Stopped):
        store._persisted(acknowledged)
    assert "changelog offset" in stops[0] and "File too large" in stops[0]


def test_the_exit_code_says_try_again():
    assert EXIT_KAFKA_WRITE_FAILED == 75  # EX_TEMPFAIL: a supervisor restarts it


def test_drain_returns_only_once_kafka_acknowledged_every_record():
    """The batch's events are acknowledged (and may be committed) when drain returns: a record
    still in the producer then would be lost by a crash with its offset committed."""
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        acknowledgements: list[asyncio.Future] = []
        seen: list[str] = []

        class Producer:
            async def send(self, topic, key, value, partition, timestamp, headers):
                future = loop.create_future()
                acknowledgements.append(future)
                return future

        outbox = KafkaOutbox(SimpleNamespace(producer=Producer()))
        outbox.send("changelog", b"c1", b"state", partition=0, on_sent=lambda f: seen.append("changelog"))
        outbox.send("cs.health", b"c1", b"health")
        drain = asyncio.create_task(outbox.drain())
        for _ in range(5):
            await asyncio.sleep(0)
        seen.append("drain done" if drain.done() else "drain waiting")
        for future in acknowledgements:
            future.set_result(SimpleNamespace(topic="t", partition=0, offset=1))
        await drain
        seen.append("drain done")
        return seen

    assert asyncio.run(scenario()) == ["drain waiting", "changelog", "drain done"]
