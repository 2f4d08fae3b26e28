"""Reading a topic from a test: what is on it now, through streams.kafka.reader (the reader the tail uses)."""
from __future__ import annotations

import asyncio
from typing import Callable

import orjson
from aiokafka import ConsumerRecord

from streams.kafka.reader import never, read_topics
from streams.settings import load_settings


def read_records(bootstrap: str, topic: str, until: Callable[[list[ConsumerRecord]], bool] | None = None,
                 timeout_s: float = 120, **consumer_options) -> list[ConsumerRecord]:
    """The records of a topic, each partition in order: every one there when reading began or,
    with `until`, until it holds of those read so far (or timeout_s passed)."""
    records: list[ConsumerRecord] = []
    asyncio.run(read_topics(load_settings(bootstrap_servers=bootstrap), topic, records.append,
                            to_end=until is None, until=(lambda: until(records)) if until else never,
                            timeout_s=timeout_s, **consumer_options))
    return records


def read_all(bootstrap: str, topic: str, timeout_s: float = 120) -> list[dict]:
    """Every record's value on a topic, each partition in order."""
    return [orjson.loads(record.value) for record in read_records(bootstrap, topic, timeout_s=timeout_s)]


def read_latest(bootstrap: str, topic: str, timeout_s: float = 120) -> dict[str, dict]:
    """The newest record per key on a topic (as a compacted-topic consumer would see it)."""
    return {record.key.decode(): orjson.loads(record.value) for record in read_records(bootstrap, topic, timeout_s=timeout_s)}
