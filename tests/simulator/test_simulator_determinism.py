"""Same config, same bytes; the API around the generator."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from itertools import islice

import orjson
import pytest

from streams.sim import SimulationConfig, simulate, write_jsonl, write_truth
from tests.simulator.simulator_support import START

SMALL = SimulationConfig(customers=120, days=60, seed=7, start=START)


def _bytes(cfg, tmp_path, name):
    path = tmp_path / name
    write_jsonl(simulate(cfg).events(), path)
    return path.read_bytes()


def test_same_config_gives_identical_bytes(tmp_path):
    first, second = _bytes(SMALL, tmp_path, "a.jsonl"), _bytes(SMALL, tmp_path, "b.jsonl")
    assert first == second and len(first) > 100_000
    t1, t2 = tmp_path / "t1.jsonl", tmp_path / "t2.jsonl"
    write_truth(simulate(SMALL).truth(), t1)
    write_truth(simulate(SMALL).truth(), t2)
    assert t1.read_bytes() == t2.read_bytes()


def test_different_seed_or_start_differs(tmp_path):
    base = _bytes(SMALL, tmp_path, "a.jsonl")
    assert _bytes(dataclasses.replace(SMALL, seed=8), tmp_path, "b.jsonl") != base
    later = dataclasses.replace(SMALL, start=datetime(2026, 6, 1, tzinfo=timezone.utc))
    assert _bytes(later, tmp_path, "c.jsonl") != base


def test_event_ids_differ_between_configs():
    """Two runs into the same topics must not be dropped as duplicates of each other."""
    a = {ev["event_id"] for ev in islice(simulate(SMALL).events(), 500)}
    b = {ev["event_id"] for ev in islice(simulate(dataclasses.replace(SMALL, seed=8)).events(), 500)}
    assert not a & b


def test_start_in_another_offset_is_the_same_instant():
    other = dataclasses.replace(SMALL, start=datetime.fromisoformat("2026-03-01T01:00:00+01:00"))
    assert list(islice(simulate(other).events(), 50)) == list(islice(simulate(SMALL).events(), 50))


def test_write_jsonl_progress_and_count(tmp_path):
    seen: list[int] = []
    path = tmp_path / "ev.jsonl"
    n = write_jsonl(simulate(SMALL).events(), path, progress=seen.append, progress_every=500)
    lines = path.read_bytes().splitlines()
    assert n == len(lines) and seen[-1] == n and seen[:3] == [500, 1000, 1500]
    assert orjson.loads(lines[0])["topic"] == "account"


def test_truth_rows(tmp_path):
    rows = simulate(SMALL).truth()
    assert len(rows) == SMALL.customers
    assert [r["customer_id"] for r in rows] == [f"c{i:06d}" for i in range(1, SMALL.customers + 1)]
    path = tmp_path / "truth.jsonl"
    assert write_truth(rows, path) == SMALL.customers
    assert orjson.loads(path.read_bytes().splitlines()[0]) == rows[0]


def test_events_are_streamed_lazily():
    big = SimulationConfig(customers=3_000, days=3_650, seed=1, start=START)
    first = list(islice(simulate(big).events(), 10))  # only the first window is generated
    assert len(first) == 10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"customers": 0},
        {"days": 0},
        {"start": datetime(2026, 3, 1)},
        {"story_shares": {"healthy": 1.0, "zombie": 0.1}},
        {"story_shares": {"healthy": 0.0}},
        {"events_per_customer_per_month": -1},
    ],
)
def test_invalid_config_rejected(kwargs):
    with pytest.raises(ValueError):
        dataclasses.replace(SMALL, **kwargs)
