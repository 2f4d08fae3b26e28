"""Half-life weights by whole days of age: w(age) = 0.5 ** (age / half_life)."""
from __future__ import annotations

_TABLES: dict[float, list[float]] = {}
_TABLE_DAYS = 4000


def weights(half_life: float) -> list[float]:
    """Cached table indexed by age in days (ages beyond it are ~0 for any sane half-life)."""
    table = _TABLES.get(half_life)
    if table is None:
        table = _TABLES[half_life] = [0.5 ** (age / half_life) for age in range(_TABLE_DAYS)]
    return table


def weight(age: int, half_life: float) -> float:
    table = weights(half_life)
    return table[age] if 0 <= age < _TABLE_DAYS else 0.5 ** (age / half_life)


def aged(rows, as_of_day: int, half_life: float):
    """(weight, values) for (day, values) rows, weighted by age relative to as_of_day."""
    table = weights(half_life)
    for day, vals in rows:
        age = as_of_day - day
        yield (table[age] if age < _TABLE_DAYS else weight(age, half_life)), vals
