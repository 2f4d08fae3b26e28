"""Sparse event-time daily buckets: {day_index: values}.

Windows are (as_of_day - days, as_of_day], so two reads within one UTC day agree
and a replay in any order gives the same figures.
"""
from __future__ import annotations


def window(buckets: dict, as_of_day: int, days: int, skip: int = 0) -> list[tuple[int, object]]:
    """Buckets with as_of_day - skip - days < day <= as_of_day - skip (skip=days gives the previous window)."""
    hi = as_of_day - skip
    lo = hi - days
    # A list comprehension: these dicts are tiny and this is the hot path of every tick.
    return [(day, value) for day, value in buckets.items() if lo < day <= hi]


def prune(buckets: dict, keep_after: int) -> None:
    """Drop days <= keep_after (they can no longer fall in any window)."""
    if not buckets or min(buckets) > keep_after:  # the usual case, found without building a list
        return
    for day in [d for d in buckets if d <= keep_after]:
        del buckets[day]

