"""NPS: promoters 9-10, passives 7-8, detractors 0-6 over a rolling window.

Bucket: day -> [promoters, passives, detractors, latest_ms, latest_score]; the
latest answer is the max (occurred_at_ms, score), so ties are order independent.
Employee (eNPS) surveys never reach here (see handlers/customer.py).
"""
from __future__ import annotations

import math

from handlers.buckets import window
from handlers.decay import aged
from handlers.events import Survey
from handlers.score import Component, shrunk, unknown
from handlers.state import by_day
from handlers.timeutil import day_of

Z95 = 1.959964

CONSTANT = False


def category(score: int) -> int:
    """0 promoter, 1 passive, 2 detractor (index into the bucket)."""
    return 0 if score >= 9 else 1 if score >= 7 else 2


def fold(state, event, config) -> None:
    if not (isinstance(event, Survey) and event.survey_kind == "nps"):
        return
    day = day_of(event.occurred_at_ms)
    b = state.nps.get(day)
    if b is None:
        b = state.nps[day] = [0, 0, 0, -1, -1]
    b[category(event.score)] += 1
    if (event.occurred_at_ms, event.score) > (b[3], b[4]):
        b[3], b[4] = event.occurred_at_ms, event.score


@by_day
def counts(state, day: int, config) -> tuple[int, int, int, int | None]:
    """(promoters, passives, detractors, latest score) in the window ending at day."""
    p = s = d = 0
    latest = (-1, None)
    for _, b in window(state.nps, day, config.windows.nps):
        p, s, d = p + b[0], s + b[1], d + b[2]
        latest = max(latest, (b[3], b[4]))
    return p, s, d, latest[1]


def nps_value(promoters: int, detractors: int, n: int) -> float | None:
    return None if n == 0 else 100.0 * (promoters - detractors) / n


def interval(promoters: int, detractors: int, n: int) -> list[float] | None:
    """95% adjusted-Wald interval: add 3 to n and 3/4 to promoters and detractors."""
    if n == 0:
        return None
    na = n + 3
    pp, pd = (promoters + 0.75) / na, (detractors + 0.75) / na
    diff = pp - pd
    se = math.sqrt(max(0.0, pp + pd - diff * diff) / na)
    # A list, not a tuple: snapshots must survive a JSON round trip unchanged.
    return [round(max(-100.0, 100 * (diff - Z95 * se)), 1), round(min(100.0, 100 * (diff + Z95 * se)), 1)]


def read(state, as_of_ms: int, config) -> dict:
    p, s, d, latest = counts(state, day_of(as_of_ms), config)
    n = p + s + d
    value = nps_value(p, d, n)
    return {
        "nps": None if value is None else round(value, 1),
        "nps_responses": n,
        "nps_interval": interval(p, d, n),
        "promoters": p, "passives": s, "detractors": d,
        "last_nps_score": latest,
    }


def components(state, day: int, config) -> dict[str, Component]:
    rows = window(state.nps, day, config.windows.nps)
    n = sum(b[0] + b[1] + b[2] for _, b in rows)
    latest = max((b[3], b[4]) for _, b in rows)[1] if rows else None
    if n < config.uncertainty.min_responses:  # "latest" still feeds the detractor rule
        return {"nps": unknown(("{} responses (< {})", (n, config.uncertainty.min_responses)), responses=n, latest=latest)}
    hl = config.uncertainty.survey_half_life_days
    prom = det = tot = 0.0
    for w, b in aged(rows, day, hl):
        prom, det, tot = prom + w * b[0], det + w * b[2], tot + w * (b[0] + b[1] + b[2])
    # Component = 50 + NPS/2, with decayed answers and prior_responses pseudo-answers at the prior.
    p = config.priors.nps
    score = shrunk(50.0 * (prom - det) + 50.0 * tot, tot, config.uncertainty.prior_responses, p)
    plain = nps_value(sum(b[0] for _, b in rows), sum(b[2] for _, b in rows), n)
    tag = ("promoter", "passive", "detractor")[category(latest)]
    last_day = max(d for d, _ in rows)
    return {"nps": Component(score, {"nps": round(plain, 1), "responses": n, "latest": latest},
                             ("latest answer {} ({}), NPS {:+.0f} on {}", (latest, tag, plain, n)),
                             ("decay", hl, abs(score - p)), evidence=n, latest=last_day,
                             drift_note=("no NPS answer for {} days: fading toward neutral", (day - last_day,)))}


def change_sources(state, config) -> list[tuple]:
    return [(state.nps, (0, config.windows.nps))]
