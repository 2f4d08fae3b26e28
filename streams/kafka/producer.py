"""Writes event dicts (with a `topic` field naming their kind) to the input topics, keyed by customer."""
from __future__ import annotations

import asyncio
import time
from typing import Callable, Iterable

import orjson
from aiokafka import AIOKafkaProducer

from streams.settings import Settings


def topic_for_kind(settings: Settings) -> dict[str, str]:
    return {kind: topic for topic, kind in settings.input_topics.items()}


def encode_for_kafka(event: dict) -> tuple[bytes, bytes]:
    """(key, value): the `topic` routing field is dropped, the rest is the event contract."""
    body = {k: v for k, v in event.items() if k != "topic"}
    return str(event.get("customer_id", "")).encode(), orjson.dumps(body)


async def produce_events(settings: Settings, events: Iterable[dict], rate: float | None = None,
                         progress: Callable[[int], None] | None = None, linger_ms: int = 20) -> int:
    """Send events in order; `rate` caps events per second (None: as fast as the broker takes them)."""
    topics = topic_for_kind(settings)
    producer = AIOKafkaProducer(**settings.kafka_client_options(), linger_ms=linger_ms,
                                max_batch_size=512 * 1024, max_request_size=4 * 1024 * 1024)
    await producer.start()
    sent = 0
    started = time.monotonic()
    pending: list[asyncio.Future] = []
    try:
        for event in events:
            topic = topics.get(event.get("topic"), event.get("topic"))
            key, value = encode_for_kafka(event)
            pending.append(await producer.send(topic, value, key=key))
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
                if progress:
                    progress(sent)
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.gather(*pending)
                    pending.clear()
                    await asyncio.sleep(ahead)
        await asyncio.gather(*pending)
        await producer.flush()
        if progress:
            progress(sent)
    finally:
        await producer.stop()
    return sent
