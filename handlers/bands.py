"""Green/yellow/red bands with hysteresis (enter and exit thresholds differ), dwell and uncertainty.

The score carries an interval (score +- half). Red is entered only when the whole interval lies
below red_enter, and left once its upper end reaches red_exit: thin evidence, whose interval is wide,
cannot turn a customer red on its own. Green is read on the score itself (it pages no one).
A customer changes band only after the new band has been indicated for
bands.min_dwell_days consecutive daily ticks, so hovering at a boundary does not flap.
"""
from __future__ import annotations

from handlers.config import Bands


def candidate(current: str | None, score: float, b: Bands, half: float = 0.0) -> str:
    """The band the score (and its interval half-width) points to, given the band the customer is in now."""
    hi = score + half
    if current == "red":
        return "green" if score >= b.green_enter else "yellow" if hi >= b.red_exit else "red"
    if current == "green":
        return "red" if hi < b.red_enter else "yellow" if score < b.green_exit else "green"
    return "green" if score >= b.green_enter else "red" if hi < b.red_enter else "yellow"


def step(state, score: float | None, b: Bands, half: float = 0.0) -> None:
    """Advance state.band / state.pending by one tick."""
    if score is None:
        return
    if state.band is None:  # first score: no dwell before the first band
        state.band, state.pending = candidate(None, score, b, half), None
        return
    cand = candidate(state.band, score, b, half)
    if cand == state.band:
        state.pending = None
        return
    if state.pending is not None and state.pending[0] == cand:
        state.pending[1] += 1
    else:
        state.pending = [cand, 1]
    if state.pending[1] >= b.min_dwell_days:
        state.band, state.pending = cand, None
