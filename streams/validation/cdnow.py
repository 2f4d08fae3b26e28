"""The CDNOW purchase history (23,570 customers who first bought at CDNOW in Q1 1997, every purchase
until June 1998; Fader & Hardie's data set, the classic BG/NBD benchmark).

It is read from the wheel of the PyPI package lifetimes 0.11.3 (MIT), which ships it as
lifetimes/datasets/CDNOW_master.txt: `pip download --no-deps` fetches the wheel once into the cache
(~/.cache/cshealth/datasets), the file is checked against its SHA-256 and nothing is installed, so
lifetimes and its old pandas/autograd never become a dependency.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

WHEEL = "lifetimes==0.11.3"
MEMBER = "lifetimes/datasets/CDNOW_master.txt"
SHA256 = "eff6889ed364c5199d6eacbbeb7a6d559971df4406ac876f322c373f00a072ef"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cshealth" / "datasets"
# The usual split: 39 weeks folded (calibration), then who buys again in the next 39 weeks.
CUTOFF = date(1997, 10, 1)
END = date(1998, 7, 1)


class DataError(RuntimeError):
    """The data set cannot be fetched or is not the expected file."""


def path(cache: Path = CACHE) -> Path:
    """The local CDNOW_master.txt, fetched from PyPI into the cache on first use."""
    target = cache / "CDNOW_master.txt"
    if target.exists() and _sha256(target) == SHA256:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", "-d", tmp, WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode or not wheels:
            raise DataError(f"pip download {WHEEL} failed: {(done.stderr or done.stdout).strip()[-300:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(MEMBER)
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise DataError(f"{MEMBER} in {WHEEL} is not the expected file (SHA-256 differs)")
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@dataclass
class Purchase:
    customer: str
    day: date
    amount: float


def read(p: Path) -> list[Purchase]:
    """Rows 'customer_id yyyymmdd number_of_cds dollar_value' after a header line."""
    rows = []
    with p.open(encoding="ascii") as handle:
        next(handle)
        for line in handle:
            cid, ymd, _, dollars = line.split()
            rows.append(Purchase(cid, date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:])), float(dollars)))
    return rows


def events(rows: list[Purchase], until: date = CUTOFF) -> list[dict]:
    """Purchase events (topic records as the stream takes them) for rows before `until`: the first a
    customer makes is kind new, later ones repeat; noon UTC, the data has no time of day."""
    seen: set[str] = set()
    out = []
    for i, row in enumerate(sorted(rows, key=lambda r: (r.day, r.customer))):
        if row.day >= until:
            continue
        kind = "repeat" if row.customer in seen else "new"
        seen.add(row.customer)
        out.append({"topic": "purchase", "event_id": f"cdnow-{i}", "customer_id": f"cdnow-{row.customer}",
                    "occurred_at": f"{row.day.isoformat()}T12:00:00+00:00", "amount": row.amount,
                    "currency": "USD", "kind": kind})
    return out


def cutoff_ms(day: date = CUTOFF) -> int:
    """The last instant before the cut-off day."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000) - 1


def outcomes(rows: list[Purchase], cutoff: date = CUTOFF, end: date = END) -> dict[str, bool]:
    """Customer (as in events) -> buys again in [cutoff, end), for customers who bought before cutoff."""
    before = {r.customer for r in rows if r.day < cutoff}
    again = {r.customer for r in rows if cutoff <= r.day < end}
    return {f"cdnow-{c}": c in again for c in before}


def histories(rows: list[Purchase], cutoff: date = CUTOFF) -> dict[str, tuple[int, float, float]]:
    """Customer -> BG/NBD (x, t_x, T) in days over the calibration period (purchase days, not lines)."""
    days: dict[str, set[int]] = {}
    for r in rows:
        if r.day < cutoff:
            days.setdefault(f"cdnow-{r.customer}", set()).add(r.day.toordinal())
    end = cutoff.toordinal()
    return {c: (len(d) - 1, float(max(d) - min(d)), float(end - min(d))) for c, d in days.items()}
