"""Writing events and ground truth as JSON lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterable

import orjson

from streams.sim.truth import Truth


def write_jsonl(
    events: Iterable[dict],
    path: str | Path,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 100_000,
) -> int:
    """Write events as JSON lines (``-`` for stdout); returns the count."""
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    n = 0
    out = sys.stdout.buffer if str(path) == "-" else open(path, "wb", buffering=1 << 20)  # noqa: SIM115
    write = out.write
    try:
        # one write per line into a large buffer: holding many small bytes objects is slower
        for ev in events:
            write(dumps(ev, option=newline))
            n += 1
            if progress is not None and n % progress_every == 0:
                progress(n)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    if progress is not None:
        progress(n)
    return n


def write_truth(truth: Iterable[Truth], path: str | Path) -> int:
    """Write the truth rows as JSON lines; returns the count."""
    return write_jsonl(truth, path)
