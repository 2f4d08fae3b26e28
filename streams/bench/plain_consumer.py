"""Reading topics from their start to their end with a plain aiokafka consumer: the limit the
worker is measured against (fetch and decode, nothing else), and the size of its changelog."""
from __future__ import annotations

import asyncio
import time
from typing import Callable

import click
import orjson


async def read_from_start(bootstrap: str, topics: list[str], handle: Callable) -> float:
    """Read every partition of `topics` from its start to its current end, `handle` per record;
    returns the seconds spent reading (assignment and offset look-ups excluded)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.runtime.faust_internals import force_metadata_update

    from streams.settings import load_settings

    # The environment's security settings, as the worker and the other bench clients use them.
    consumer = AIOKafkaConsumer(**load_settings(bootstrap_servers=bootstrap).kafka_client_options(), group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        await force_metadata_update(consumer)  # fresh topics: partitions_for_topic needs their metadata
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        begins = await consumer.beginning_offsets(partitions)
        open_parts = {tp for tp in partitions if ends[tp] > begins[tp]}
        started = time.perf_counter()
        while open_parts:
            batch = await consumer.getmany(*open_parts, timeout_ms=1000)
            for tp, messages in batch.items():
                for message in messages:
                    handle(message)
            open_parts = {tp for tp in open_parts if await consumer.position(tp) < ends[tp]}
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def limit_rate(bootstrap: str, topics: list[str], events: int) -> float:
    """The plain consumer: fetch and decode, nothing else."""
    decoded = 0

    def decode(message) -> None:
        nonlocal decoded
        orjson.loads(message.value)
        decoded += 1

    seconds = asyncio.run(read_from_start(bootstrap, topics, decode))
    if decoded != events:
        raise click.ClickException(f"the plain consumer read {decoded} records, expected {events}")
    return events / seconds


def changelog_records(bootstrap: str, topic: str) -> int:
    count = 0

    def keep(message) -> None:
        nonlocal count
        count += 1

    asyncio.run(read_from_start(bootstrap, [topic], keep))
    return count


def wait_for_compaction(bootstrap: str, topic: str, keys: int, timeout_s: float) -> int:
    """Until the log cleaner has left about one record per key (streams.runtime.app.CHANGELOG_COMPACTION);
    returns the records left."""
    deadline = time.monotonic() + timeout_s
    while (records := changelog_records(bootstrap, topic)) > 1.2 * keys and time.monotonic() < deadline:
        time.sleep(10)
    return records


def changelog_state_bytes(bootstrap: str, topic: str) -> tuple[float, float]:
    """Mean size of each customer's latest state record in the worker's table changelog, and the
    mean part of it that is outputs kept until Kafka acknowledged them (`undelivered`: dropped at
    the state's next write)."""
    from streams.runtime.pipeline import INTERNAL_KEY_PREFIX

    latest: dict[bytes, tuple[int, int]] = {}

    def keep(message) -> None:
        if message.key.startswith(INTERNAL_KEY_PREFIX):
            return
        if message.value is None:
            latest.pop(message.key, None)
        else:
            kept = orjson.loads(message.value).get("undelivered") or []
            latest[message.key] = (len(message.value), len(orjson.dumps(kept)) if kept else 0)

    asyncio.run(read_from_start(bootstrap, [topic], keep))
    count = max(1, len(latest))
    return sum(size for size, _ in latest.values()) / count, sum(kept for _, kept in latest.values()) / count
