"""Runs real workers as subprocesses against the real broker, feeds them, and reads their outputs."""
from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict

import orjson
from aiokafka import AIOKafkaConsumer

from streams.devstack.processes import WorkerProcess, settings_from, stack_env  # noqa: F401 (re-exported for the tests)
from streams.kafka.producer import produce_events


def interleave_topics(events: list[dict], seed: int) -> list[dict]:
    """Each topic stays in event-time order; the topics are merged in random order."""
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        by_topic[event["topic"]].append(event)
    rng = random.Random(seed)
    cursors = {topic: 0 for topic in by_topic}
    merged = []
    remaining = len(events)
    topics = list(by_topic)
    while remaining:
        # Weighted by what is left, so topics advance through time at similar speed.
        pick = rng.randrange(remaining)
        for topic in topics:
            left = len(by_topic[topic]) - cursors[topic]
            if pick < left:
                merged.append(by_topic[topic][cursors[topic]])
                cursors[topic] += 1
                break
            pick -= left
        remaining -= 1
    return merged


def produce(env: dict[str, str], events) -> int:
    return asyncio.run(produce_events(settings_from(env), events))


async def _read(bootstrap: str, topic: str, idle_s: float, deadline: float, keep) -> None:
    """Hand every record of a topic, from the start, to `keep` until it has been quiet for idle_s."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < idle_s:
            batch = await consumer.getmany(timeout_ms=500, max_records=10000)
            for messages in batch.values():
                for message in messages:
                    keep(message)
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()


def read_latest(bootstrap: str, topic: str, idle_s: float = 3.0, timeout_s: float = 120) -> dict[str, dict]:
    """The newest record per key on a topic (as a compacted-topic consumer would see it)."""
    latest: dict[str, dict] = {}

    def keep(message) -> None:
        latest[message.key.decode()] = orjson.loads(message.value)

    asyncio.run(_read(bootstrap, topic, idle_s, time.monotonic() + timeout_s, keep))
    return latest


def read_all(bootstrap: str, topic: str, idle_s: float = 3.0, timeout_s: float = 120) -> list[dict]:
    """Every record on a topic, each partition in order."""
    records: list[dict] = []
    asyncio.run(_read(bootstrap, topic, idle_s, time.monotonic() + timeout_s,
                      lambda message: records.append(orjson.loads(message.value))))
    return records


def comparable(snapshot: dict | None) -> dict | None:
    """A cs.health record minus `as_of` (the watermark when it was last recomputed)."""
    return None if snapshot is None else {k: v for k, v in snapshot.items() if k != "as_of"}


def wait_for_equal(bootstrap: str, topic: str, expected: dict[str, dict], timeout_s: float = 300,
                   unchanged_s: float = 180) -> dict[str, dict]:
    """Poll the topic until every customer's latest record equals the expectation, time runs
    out, or the records stay unequal and unchanged for unchanged_s (a wrong result that will
    not mend: fail in minutes, not after the whole timeout)."""
    deadline = time.monotonic() + timeout_s
    latest: dict[str, dict] = {}
    unchanged_since = time.monotonic()
    while time.monotonic() < deadline:
        previous = latest
        latest = read_latest(bootstrap, topic, idle_s=2.0, timeout_s=max(5.0, deadline - time.monotonic()))
        if all(comparable(latest.get(cid)) == comparable(snap) for cid, snap in expected.items()):
            return latest
        if latest != previous:
            unchanged_since = time.monotonic()
        elif time.monotonic() - unchanged_since >= unchanged_s:
            return latest
        time.sleep(2)
    return latest


def mismatches(expected: dict[str, dict], actual: dict[str, dict], limit: int = 3) -> list[str]:
    out = []
    for cid, snap in expected.items():
        got = actual.get(cid)
        if comparable(got) != comparable(snap):
            if got is None:
                out.append(f"{cid}: missing")
            else:
                diff = {k: (snap["metrics"].get(k), got["metrics"].get(k)) for k in snap.get("metrics", {})
                        if snap["metrics"].get(k) != got.get("metrics", {}).get(k)}
                out.append(f"{cid}: health {snap.get('health', {}).get('score')}/{got.get('health', {}).get('score')} "
                           f"{snap.get('health', {}).get('band')}/{got.get('health', {}).get('band')} metrics {diff}")
            if len(out) >= limit:
                break
    return out
