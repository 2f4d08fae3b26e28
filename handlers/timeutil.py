"""Event-time helpers: epoch milliseconds, UTC day index, ISO-8601 parsing.

Everything in handlers/ runs on the event's own clock; nothing here reads the
wall clock.
"""
from __future__ import annotations

import re
from functools import lru_cache
from datetime import datetime, timedelta, timezone

DAY_MS = 86_400_000
# Accepted epoch-ms range: 2000-01-01 .. 2100-01-01 (catches seconds-vs-ms mixups).
MIN_EPOCH_MS = 946_684_800_000
MAX_EPOCH_MS = 4_102_444_800_000
# ISO-8601 with a mandatory offset; the JSON schemas publish the same pattern.
ISO_PATTERN = (
    r"^20\d{2}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d"
    r"(:[0-5]\d(\.\d{1,6})?)?(Z|z|[+-]([01]\d|2[0-3]):?[0-5]\d)$"
)
_ISO_RE = re.compile(ISO_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)


def day_of(ms: int) -> int:
    """UTC day index of an epoch-ms instant."""
    return ms // DAY_MS


def end_of_day(day: int) -> int:
    """Last millisecond of a UTC day: the instant a daily tick stands for."""
    return (day + 1) * DAY_MS - 1


@lru_cache(maxsize=4096)
def _date(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")


@lru_cache(maxsize=1 << 16)  # every snapshot formats its customer's same few instants again
def iso(ms: int | None) -> str | None:
    """ISO-8601 UTC with milliseconds, e.g. 2024-05-01T23:59:59.999Z (None stays None)."""
    if ms is None:
        return None
    day, rest = divmod(ms, DAY_MS)
    secs, milli = divmod(rest, 1000)
    return f"{_date(day)}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}.{milli:03d}Z"


def parse_ts(value: object) -> int:
    """ISO-8601 string with offset, or integer epoch ms -> epoch ms; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("must be an ISO-8601 string with offset or epoch milliseconds")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        if not _ISO_RE.match(value):
            raise ValueError("must be ISO-8601 with a UTC offset (e.g. 2024-05-01T12:00:00Z)")
        try:
            dt = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValueError("is not a valid calendar date/time") from None
        # Integer arithmetic: float timestamps would round sub-ms parts unevenly.
        ms = (dt - _EPOCH) // _ONE_MS
    else:
        raise ValueError("must be an ISO-8601 string with offset or epoch milliseconds")
    if not MIN_EPOCH_MS <= ms < MAX_EPOCH_MS:
        raise ValueError("is outside 2000-01-01..2100-01-01")
    return ms
