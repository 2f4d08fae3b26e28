"""Runs real workers as subprocesses against the real broker, feeds them, and reads their outputs."""
from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from streams import local_kafka
from streams.producer import produce_events
from streams.settings import load_settings

TOPIC_FIELDS = ("purchases", "surveys", "tickets", "mentions", "interactions", "accounts",
                "health", "health_changes", "alerts", "dlq")


def stack_env(bootstrap: str, prefix: str, partitions: int = 4, **extra) -> dict[str, str]:
    """CSHEALTH_* variables for an isolated app: its own topics and consumer group."""
    env = {f"CSHEALTH_TOPIC_{name.upper()}": f"{prefix}.{name}" for name in TOPIC_FIELDS}
    env |= {"CSHEALTH_BOOTSTRAP_SERVERS": bootstrap, "CSHEALTH_APP_ID": prefix,
            "CSHEALTH_PARTITIONS": str(partitions), "CSHEALTH_LOG_LEVEL": "warning"}
    env |= {f"CSHEALTH_{k.upper()}": str(v) for k, v in extra.items()}
    return env


def settings_from(env: dict[str, str]):
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


class WorkerProcess:
    def __init__(self, env: dict[str, str], state_dir: Path, log_path: Path) -> None:
        self.port = local_kafka.free_port()
        self.env = dict(os.environ) | env | {"CSHEALTH_WEB_PORT": str(self.port), "CSHEALTH_STATE_DIR": str(state_dir)}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "WorkerProcess":
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout_s: float = 90) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}: {self.tail_log()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"worker not ready in {timeout_s}s: {self.tail_log()}")

    def get(self, path: str) -> tuple[int, dict]:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, orjson.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, orjson.loads(error.read())

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout_s: float = 30) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail_log(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


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


async def _read_latest(bootstrap: str, topic: str, idle_s: float, deadline: float) -> dict[str, dict]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    latest: dict[str, dict] = {}
    try:
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < idle_s:
            batch = await consumer.getmany(timeout_ms=500, max_records=10000)
            for messages in batch.values():
                for message in messages:
                    latest[message.key.decode()] = orjson.loads(message.value)
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return latest


def read_latest(bootstrap: str, topic: str, idle_s: float = 3.0, timeout_s: float = 120) -> dict[str, dict]:
    """The newest record per key on a topic (as a compacted-topic consumer would see it)."""
    return asyncio.run(_read_latest(bootstrap, topic, idle_s, time.monotonic() + timeout_s))


def comparable(snapshot: dict | None) -> dict | None:
    """A cs.health record minus `as_of` (the watermark when it was last recomputed)."""
    return None if snapshot is None else {k: v for k, v in snapshot.items() if k != "as_of"}


def wait_for_equal(bootstrap: str, topic: str, expected: dict[str, dict], timeout_s: float = 300) -> dict[str, dict]:
    """Poll the topic until every customer's latest record equals the expectation (or time runs out)."""
    deadline = time.monotonic() + timeout_s
    latest: dict[str, dict] = {}
    while time.monotonic() < deadline:
        latest = read_latest(bootstrap, topic, idle_s=2.0, timeout_s=max(5.0, deadline - time.monotonic()))
        if all(comparable(latest.get(cid)) == comparable(snap) for cid, snap in expected.items()):
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
