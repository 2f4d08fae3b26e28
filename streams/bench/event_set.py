"""The benches' event set: the simulator's first N events, as JSONL, ending now or at a given time."""
from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import orjson

from streams.sim import SimulationConfig, simulate, write_jsonl


def derived_count(event: dict) -> int:
    """Referral credits the event makes the worker fold on top of it (handlers.customer.derived_events)."""
    referrer = event.get("referred_by")
    return int(event.get("topic") == "purchase" and bool(referrer) and referrer != event.get("customer_id"))


def simulation(days: int, customers: int, seed: int, end: datetime | None = None) -> Iterator[dict]:
    """`days` of simulated events ending at `end`, by default now (the newest events are fresh)."""
    end = end or datetime.now(timezone.utc).replace(microsecond=0)
    return simulate(SimulationConfig(customers=customers, days=days, seed=seed, start=end - timedelta(days=days))).events()


def write_event_set(path: Path, events: int, customers: int, seed: int, end: datetime | None = None,
                    days: int | None = None) -> tuple[int, int]:
    """Write the simulator's first `events` events as JSONL (what the replay reads), over `days`
    (by default as many as `events` need) ending at `end` (by default now); a period too short
    for `events` is doubled until it holds them. Returns (events, derived referral credits)."""
    if days is None:
        pilot = min(customers, 1000)
        per_customer_day = sum(1 for _ in simulation(28, pilot, seed, end)) / (28 * pilot)
        # Twice the estimate: generation is lazy, so days past the N-th event cost nothing.
        days = max(1, math.ceil(2 * events / (customers * max(per_customer_day, 1e-6))))
    while True:
        derived = 0

        def counting(stream: Iterator[dict]) -> Iterator[dict]:
            nonlocal derived
            for event in stream:
                derived += derived_count(event)
                yield event

        written = write_jsonl(counting(itertools.islice(simulation(days, customers, seed, end), events)), path)
        if written == events:
            return written, derived
        days *= 2


def read_event_set(path: Path) -> Iterator[dict]:
    with path.open("rb") as lines:
        for line in lines:
            yield orjson.loads(line)
