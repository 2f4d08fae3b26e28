"""Feeding workers that run against the real broker, and comparing their cs.health with the replay's."""
from __future__ import annotations

import asyncio
import collections
import itertools
import random
import time
from collections import defaultdict

import orjson

from handlers.timeutil import DAY_MS, iso, parse_ts
from streams.devstack.processes import settings_from
from streams.kafka.producer import produce_events
from streams.runtime.routing import partition_for
from tests.support.conditions import eventually
from tests.support.topics import read_latest


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


def closing_events(events: list[dict], partitions: int) -> list[dict]:
    """Records that end a stream without an idle wait: one per input topic and partition, a day
    after the newest event, each for a customer of its own. Every input then holds the watermark
    at that time (each is still delivering), so the stream's last days close as soon as these are
    read, not once the inputs have been quiet for the idle time. They are ordinary events (copies
    of a customer's event of the topic): the oracle folds them with the rest."""
    at = iso(max(parse_ts(event["occurred_at"]) for event in events) + DAY_MS)
    templates: dict[str, dict] = {}
    for event in events:  # a customer's own event: no employee survey, no referral credit to pass on
        if "respondent" not in event and "referred_by" not in event:
            templates.setdefault(event["topic"], event)
    closing = []
    for topic, template in sorted(templates.items()):
        for partition in range(partitions):
            customer = next(cid for n in itertools.count() if partition_for(
                (cid := f"closing-{topic}-{partition}-{n}").encode(), partitions) == partition)
            closing.append(template | {"customer_id": customer, "event_id": f"{customer}-end", "occurred_at": at})
    return closing


def produce(env: dict[str, str], events) -> int:
    return asyncio.run(produce_events(settings_from(env), events))


def comparable(snapshot: dict | None) -> dict | None:
    """A cs.health record minus `as_of` (the watermark when it was last recomputed)."""
    return None if snapshot is None else {k: v for k, v in snapshot.items() if k != "as_of"}


def differing(expected: dict[str, dict], actual: dict[str, dict]) -> list[str]:
    return [cid for cid, snap in expected.items() if comparable(actual.get(cid)) != comparable(snap)]


def wait_for_equal(bootstrap: str, topic: str, expected: dict[str, dict], timeout_s: float = 300,
                   unchanged_s: float = 180) -> dict[str, dict]:
    """Read the topic until every customer's latest record equals the expectation, or the records
    stay unequal and unchanged for unchanged_s (a wrong result that will not mend: fail in
    minutes, not after the whole timeout); returns the last read."""
    latest: dict[str, dict] = {}
    unchanged_since = time.monotonic()

    def equal_or_stuck() -> bool:
        nonlocal latest, unchanged_since
        previous, latest = latest, read_latest(bootstrap, topic)
        if not differing(expected, latest):
            return True
        if latest != previous:
            unchanged_since = time.monotonic()
        return time.monotonic() - unchanged_since >= unchanged_s

    def report() -> str:
        return f"{len(differing(expected, latest))} of {len(expected)} customers differ: {mismatches(expected, latest)}"

    eventually(equal_or_stuck, timeout_s, interval=2, message=report)
    assert not differing(expected, latest), f"unchanged for {unchanged_s} s: {report()}"
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


async def create_topic(bootstrap: str, name: str, partitions: int, config: dict[str, str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=config)])
    finally:
        await admin.close()


def outputs_by_id(records, key) -> tuple[dict, collections.Counter, list]:
    """id -> record, how often each id came, and the ids that came with different content."""
    first: dict = {}
    seen: collections.Counter = collections.Counter()
    conflicting = []
    for record in records:
        value = orjson.loads(record.value)
        output_id = key(value)
        seen[output_id] += 1
        if output_id in first and first[output_id] != value:
            conflicting.append(output_id)
        first.setdefault(output_id, value)
    return first, seen, conflicting
