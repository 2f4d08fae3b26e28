"""Helpers shared by the simulator tests (fixtures live in conftest, which is not imported)."""

from __future__ import annotations

from datetime import datetime, timezone

START = datetime(2026, 3, 1, tzinfo=timezone.utc)
DAY = 86_400


def instant(occurred_at: str | int) -> float:
    """Epoch seconds of an ``occurred_at`` value (ISO-8601 with offset or epoch ms)."""
    if isinstance(occurred_at, int):
        return occurred_at / 1000
    parsed = datetime.fromisoformat(occurred_at)
    assert parsed.utcoffset() is not None, occurred_at
    return parsed.timestamp()
