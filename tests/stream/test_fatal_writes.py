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


def test_the_exit_code_says_try_again():
    assert EXIT_KAFKA_WRITE_FAILED == 75  # EX_TEMPFAIL: a supervisor restarts it
