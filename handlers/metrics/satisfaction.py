"""CSAT (% of 4-5 answers on 1-5) and CES (mean on 1-7) over a rolling window.

Bucket: day -> [csat_n, csat_top2, ces_n, ces_sum].
"""
from __future__ import annotations

from handlers.buckets import window
from handlers.decay import aged
from handlers.events import Survey
from handlers.score import Component, shrunk, unknown
from handlers.state import by_day
from handlers.timeutil import day_of

CONSTANT = False


def fold(state, event, config) -> None:
    if not (isinstance(event, Survey) and event.survey_kind in ("csat", "ces")):
        return
    day = day_of(event.occurred_at_ms)
    b = state.sat.get(day)
    if b is None:
        b = state.sat[day] = [0, 0, 0, 0]
    if event.survey_kind == "csat":
        b[0] += 1
        b[1] += event.score >= 4
    else:
        b[2] += 1
        b[3] += event.score


@by_day
def rows(state, day: int, config) -> list:
    return window(state.sat, day, config.windows.satisfaction)


def _sums(rows) -> list[int]:
    total = [0, 0, 0, 0]
    for _, b in rows:
        for i in range(4):
            total[i] += b[i]
    return total


def read(state, as_of_ms: int, config) -> dict:
    cn, top2, en, esum = _sums(rows(state, day_of(as_of_ms), config))
    return {
        "csat": round(100.0 * top2 / cn, 1) if cn else None,
        "csat_responses": cn,
        "ces": round(esum / en, 2) if en else None,
        "ces_responses": en,
    }


def components(state, day: int, config) -> dict[str, Component]:
    found = rows(state, day, config)
    cn, top2, en, esum = _sums(found)
    u = config.uncertainty
    num_c = den_c = num_e = den_e = 0.0
    last_c = last_e = None
    for (d, b), (w, _) in zip(found, aged(found, day, u.survey_half_life_days)):
        num_c, den_c = num_c + w * 100.0 * b[1], den_c + w * b[0]
        # CES 1..7 mapped to 0..100: (score - 1) / 6 * 100 per answer.
        num_e, den_e = num_e + w * (b[3] - b[2]) * 100.0 / 6.0, den_e + w * b[2]
        if b[0] and (last_c is None or d > last_c):
            last_c = d
        if b[2] and (last_e is None or d > last_e):
            last_e = d
    hl = u.survey_half_life_days
    out = {}
    if cn < u.min_responses:
        out["csat"] = unknown(("{} responses (< {})", (cn, u.min_responses)), responses=cn)
    else:
        p = config.priors.csat
        score = shrunk(num_c, den_c, u.prior_responses, p)
        out["csat"] = Component(score, {"csat": round(100.0 * top2 / cn, 1), "responses": cn},
                                ("{} of {} answers satisfied (4-5)", (top2, cn)), ("decay", hl, abs(score - p)),
                                evidence=cn, latest=last_c,
                                drift_note=("no CSAT answer for {} days: fading toward neutral", (day - last_c,)))
    if en < u.min_responses:
        out["ces"] = unknown(("{} responses (< {})", (en, u.min_responses)), responses=en)
    else:
        p = config.priors.ces
        score = shrunk(num_e, den_e, u.prior_responses, p)
        out["ces"] = Component(score, {"ces": round(esum / en, 2), "responses": en},
                               ("effort {:.1f}/7 on {}", (esum / en, en)), ("decay", hl, abs(score - p)),
                               evidence=en, latest=last_e,
                               drift_note=("no CES answer for {} days: fading toward neutral", (day - last_e,)))
    return out


def change_sources(state, config) -> list[tuple]:
    return [(state.sat, (0, config.windows.satisfaction))]
