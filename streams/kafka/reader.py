"""One way to read topics outside the worker: from their beginning (or from now on), handing each
record over, until a condition holds, the end they had when reading began is reached, or time is up. With the project's client settings (security included) and no
consumer group: a reader commits nothing and disturbs no worker's offsets."""
from __future__ import annotations

import time
from typing import Callable, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from streams.settings import Settings


def never() -> bool:
    return False


async def read_topics(settings: Settings, topics: str | Iterable[str], handle: Callable[[ConsumerRecord], object],
                      *, from_beginning: bool = True, until: Callable[[], bool] = never, to_end: bool = False,
                      timeout_s: float | None = None, poll_s: float = 0.5, **consumer_options) -> int:
    """Hand every record of `topics` to `handle`, each partition in order, and return how many.

    Stops as soon as `until()` holds (asked after each record, so a limit is exact), once every
    partition reached the end it had when reading began (`to_end`), or after `timeout_s`; with
    none of these it reads on for ever (a live tail).
    `consumer_options` go to AIOKafkaConsumer (e.g. larger fetch sizes)."""
    topics = [topics] if isinstance(topics, str) else list(topics)
    consumer = AIOKafkaConsumer(*topics, **settings.kafka_client_options(), group_id=None,
                                enable_auto_commit=False,
                                auto_offset_reset="earliest" if from_beginning else "latest", **consumer_options)
    await consumer.start()
    try:
        started = time.monotonic()
        # Subscribed without a group, the consumer is assigned every partition once it has started.
        ends = await consumer.end_offsets(list(consumer.assignment())) if to_end else {}
        read = 0
        while not until():
            if to_end and all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                break
            if timeout_s is not None and time.monotonic() - started >= timeout_s:
                break
            batch = await consumer.getmany(timeout_ms=int(poll_s * 1000), max_records=10_000)
            for messages in batch.values():
                for message in messages:
                    handle(message)
                    read += 1
                    if until():
                        return read
        return read
    finally:
        await consumer.stop()
