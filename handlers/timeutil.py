"""Event-time helpers: epoch milliseconds, UTC day index, ISO-8601 parsing.

Everything in handlers/ runs on the event's own clock; nothing here reads the
wall clock (a check against it takes `now_ms` as a parameter).
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

DAY_MS = 86_400_000
MINUTE_MS = 60_000
# Integer timestamps are epoch milliseconds from 1971-01-01 to 2100-01-01. The range is
# a plausibility check, not a calendar limit: every epoch-seconds value up to the year
# 2969 falls below it and every epoch-microseconds value after 1970-02-17 above it, so a
# producer that sends the wrong unit is told so instead of landing in 1970 or year 55,000.
MIN_EPOCH_MS = 31_536_000_000
MAX_EPOCH_MS = 4_102_444_800_000
# ISO-8601 strings may say any instant from the epoch on; the offset is mandatory. Extended
# (2024-05-01T12:00:00.5+02:00) and basic (20240501T120000Z) formats, minutes or seconds
# precision, any number of fraction digits (truncated to the millisecond), ',' or '.' before
# them, offsets Z, +hh, +hhmm or +hh:mm; RFC 3339's space and lower-case t/z are accepted too.
# ASCII digits only ([0-9], not \d, which Python would let match any Unicode digit).
_YEAR = r"(?P<y>1969|19[7-9][0-9]|[2-9][0-9]{3})"  # 1969 for instants like 1969-12-31T23:00-02:00
_MONTH, _DAY = r"(?P<mo>0[1-9]|1[0-2])", r"(?P<d>0[1-9]|[12][0-9]|3[01])"
_HOUR, _MIN, _SEC = r"(?P<h>[01][0-9]|2[0-3])", r"(?P<mi>[0-5][0-9])", r"(?P<s>[0-5][0-9])"
_FRACTION = r"(?:[.,](?P<f>[0-9]{1,12}))?"
_OFFSET = r"(?P<z>[Zz]|(?P<sign>[+-])(?P<oh>[01][0-9]|2[0-3])(?::?(?P<om>[0-5][0-9]))?)"
_EXTENDED = rf"{_YEAR}-{_MONTH}-{_DAY}[Tt ]{_HOUR}:{_MIN}(?::{_SEC}{_FRACTION})?"
# The same fields without separators (Python wants distinct group names: prefixed with b).
_BASIC = re.sub(r"\?P<", "?P<b", rf"{_YEAR}{_MONTH}{_DAY}[Tt]{_HOUR}{_MIN}(?:{_SEC}{_FRACTION})?")
_PY_PATTERN = rf"^(?:{_EXTENDED}|{_BASIC}){_OFFSET}$"
# The JSON schemas publish the same pattern (ECMA-262 has no named groups).
ISO_PATTERN = re.sub(r"\?P<\w+>", "", _PY_PATTERN)
_ISO_RE = re.compile(_PY_PATTERN)
_NO_OFFSET_RE = re.compile(rf"^(?:{_EXTENDED}|{_BASIC})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_FORMAT_HINT = "e.g. 2024-05-01T12:00:00Z or 2024-05-01T14:00:00+02:00"


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
    """ISO-8601 string with offset, or integer epoch ms -> epoch ms; ValueError naming the failed check."""
    if isinstance(value, bool):
        raise ValueError(f"must be an ISO-8601 string with offset or epoch milliseconds, not {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if value < MIN_EPOCH_MS:
            raise ValueError(f"epoch milliseconds {value} are before {iso(MIN_EPOCH_MS)[:10]}: "
                             "epoch seconds? (send milliseconds, or an ISO-8601 string for earlier instants)")
        if value >= MAX_EPOCH_MS:
            raise ValueError(f"epoch milliseconds {value} are not before {iso(MAX_EPOCH_MS)[:10]}: "
                             "epoch microseconds? (send milliseconds)")
        return value
    if isinstance(value, str):
        return _parse_iso(value)
    raise ValueError(f"must be an ISO-8601 string with offset or epoch milliseconds, not {type(value).__name__}")


def _parse_iso(text: str) -> int:
    m = _ISO_RE.fullmatch(text)  # not match(): '$' also matches before a final newline
    if m is None:
        if _NO_OFFSET_RE.fullmatch(text):
            raise ValueError(f"{text[:40]!r} has no UTC offset: add Z or +hh:mm ({_FORMAT_HINT})")
        raise ValueError(f"{text[:40]!r} is not an ISO-8601 date-time with offset ({_FORMAT_HINT})")
    g = {k.lstrip("b"): v for k, v in m.groupdict().items() if v is not None}
    try:
        days = date(int(g["y"]), int(g["mo"]), int(g["d"])).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        raise ValueError(f"{text[:40]!r}: no such calendar date") from None
    secs = int(g["h"]) * 3600 + int(g["mi"]) * 60 + int(g.get("s", 0))
    if g.get("sign"):
        offset = int(g["oh"]) * 3600 + int(g.get("om", 0)) * 60
        secs -= offset if g["sign"] == "+" else -offset
    # Integer arithmetic; the fraction is truncated to the millisecond (floor, like the instant itself).
    ms = (days * 86_400 + secs) * 1000 + int((g.get("f", "") + "000")[:3])
    if ms < 0:
        raise ValueError(f"{text[:40]!r} is before 1970-01-01T00:00:00Z")
    return ms
