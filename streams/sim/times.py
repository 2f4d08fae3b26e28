"""Time for the simulator: epoch seconds, and their ISO-8601 text built fast (cached date
prefixes and minute/second strings), and calendar months for renewals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

DAY = 86_400
HOUR = 3_600

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DATE_CACHE: dict[int, str] = {}
HH_MM = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]  # minute of day -> "HH:MM:"
SS = [f"{s:02d}" for s in range(60)]


def date_prefix(day: int) -> str:
    """"YYYY-MM-DDT" of the day ``day`` days after 1970-01-01, cached."""
    date = _DATE_CACHE.get(day)
    if date is None:
        date = _DATE_CACHE[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
    return date


def iso(ts: int, offset_min: int = 0, offset_str: str = "+00:00") -> str:
    """ISO-8601 with offset for epoch seconds ``ts``."""
    day, sec = divmod(ts + offset_min * 60, DAY)
    m, s = divmod(sec, 60)
    return f"{date_prefix(day)}{m // 60:02d}:{m % 60:02d}:{s:02d}{offset_str}"


_MONTH_START: dict[tuple[int, int], int] = {}


def add_months(y: int, m: int, day: int, sec: int, k: int) -> int:
    """Epoch seconds of ``day`` (<= 28) at ``sec`` in the month ``k`` months after y-m."""
    dy, m0 = divmod(m - 1 + k, 12)
    key = (y + dy, m0 + 1)
    first = _MONTH_START.get(key)
    if first is None:
        first = _MONTH_START[key] = int(datetime(key[0], key[1], 1, tzinfo=timezone.utc).timestamp())
    return first + (day - 1) * DAY + sec
