"""The two clocks of the runtime: monotonic for budgets and idle times, wall for event age.

One pair is injected into the pipeline and shared with its watermark, so a test that moves
time moves it for every part at once.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Clock:
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time


SYSTEM_CLOCK = Clock()
