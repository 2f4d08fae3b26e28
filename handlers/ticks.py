"""Daily ticks: score, band (hysteresis + dwell), health-change emission, alert rules.

A tick for UTC day D reads only data with day <= D, so its result does not
depend on how much of the future the state already holds; together with the
watermark (ticks close at end of D + allowed lateness) this makes the outputs a
function of the set of events, not their arrival order.

Quiet stretches are skipped when provably nothing can happen: between "change
days" (an event day, or an event day plus a window length: when data enters or
leaves a window; a silence-threshold crossing; a score peak expiring) every
component is either constant, decays monotonically toward its prior by at most
amplitude x (1 - 0.5 ** (k / half_life)), moves linearly, or moves monotonically
as a known function of the quiet days (("at", fn)); its uncertainty (the
interval) is constant. If the score cannot reach the emission step, a band
threshold or the score_drop threshold within k days, those k ticks would change
nothing and are not evaluated.
"""
from __future__ import annotations

import bisect

from handlers import alerts, bands, rules
from handlers.config import COMPONENTS
from handlers.metrics import FAMILIES, lifecycle
from handlers.score import (_weights, attribute, breakdown, brief, combine, explain, half_width, health_dict,
                            overall_prior)
from handlers.timeutil import end_of_day, iso

EPS = 1e-6
FAR = 1 << 40  # "no change day ahead"


def components(state, day: int, config, plan: "Plan | None" = None) -> dict:
    """All components at day; with a plan, CONSTANT families reuse their last result."""
    comps = {}
    for family in FAMILIES:
        if plan is not None and family.CONSTANT:
            until, cached = plan.cache.get(family, (-1, None))
            if day > until:
                cached = family.components(state, day, config)
                plan.cache[family] = (plan.next_change(family, day) - 1, cached)
            comps.update(cached)
        else:
            comps.update(family.components(state, day, config))
    return comps


def tick(state, day: int, config, health_changes: list | None, alert_out: list, plan: "Plan | None" = None):
    """Evaluate one closed day; returns (score, components, half width) for the skip decision.
    health_changes None: update the state as usual but do not build the change records."""
    comps = components(state, day, config, plan)
    score, contrib = combine(comps, config)
    half = half_width(comps, config)
    bands.step(state, score, config.bands, half)
    cached = []

    def health() -> dict:
        if not cached:
            cached.append(health_dict(comps, score, contrib, state.band, config))
        return cached[0]

    def alert_brief() -> dict:  # the full read-out only when a health change built it anyway
        return breakdown(cached[0]) if cached else brief(comps, score, half, contrib, state.band, config)

    last = state.last_emit
    if last is None or state.band != last[2] or _stepped(score - last[1], config.bands):
        if health_changes is not None:
            health_changes.append(_change(state, day, score, comps, last, health(), config))
        state.last_emit = [day, round(score, 2), state.band,
                           {n: round(comps[n].score, 3) for n in contrib if comps[n].score is not None}]
        state.peaks.append([day, round(score, 2)])
    conds = rules.conditions(state, day, score, half, comps, config)
    if conds or state.active:
        alert_out.extend(alerts.transitions(state, day, conds, alert_brief, config))
    return score, comps, half


def _stepped(moved: float, b) -> bool:
    """A move worth a health change: a fall of change_step, or a rise of rise_step (good news is
    less urgent; a calm stream for healthy customers, whose scores mostly rise as evidence comes)."""
    return moved <= -b.change_step or moved >= b.rise_step


def _change(state, day, score, comps, last, health, config) -> dict:
    prev_score = None if last is None else last[1]
    start = overall_prior(config) if last is None else prev_score
    delta = score - start
    before = {} if last is None else last[3]  # the first score is explained as its move from the prior
    since = None if last is None else last[0]
    notes = {n: comps[n].why(since) for n in COMPONENTS}
    after = {n: comps[n].score for n in COMPONENTS if comps[n].score is not None}
    text, parts = explain(delta, attribute(before, after, config), notes, initial=last is None, start=start)
    return {
        "customer_id": state.customer_id,
        "occurred_at": iso(end_of_day(day)),
        "score": round(score, 1),
        "interval": health["interval"],
        "previous_score": None if prev_score is None else round(prev_score, 1),
        "delta": round(delta, 1),
        "band": state.band,
        "previous_band": None if last is None else last[2],
        "band_changed": last is None or state.band != last[2],
        "explanation": text,
        "delta_by_component": parts,
        "health": health,
        "segment": lifecycle.field(state, "segment"),
        "config_version": config.version,
    }


# ---- skipping quiet stretches -------------------------------------------------

class Plan:
    """Change days of one advance() call (the state's buckets do not change during it).

    Kept as (sorted source days, offset) pairs searched with bisect: building the
    sorted union of every day + offset cost more than the one or two ticks an
    advance() usually evaluates."""
    __slots__ = ("by_family", "all", "cache")

    def __init__(self, state, config):
        self.by_family = {f: [(days, n) for days, offsets in ((sorted(d), o) for d, o in f.change_sources(state, config))
                              if days for n in offsets] for f in FAMILIES}
        self.all = [pair for pairs in self.by_family.values() for pair in pairs]
        self.cache: dict = {}

    def next_change(self, family, day: int) -> int:
        """First change day after `day` (for one family, or any); a far day when none."""
        best = FAR
        for days, n in self.all if family is None else self.by_family[family]:
            i = bisect.bisect_right(days, day - n)  # first source day d with d + n > day
            if i < len(days) and days[i] + n < best:
                best = days[i] + n
        return best


def _stretch_limit(state, day: int, comps, next_change_day: int, bound: int, config) -> int:
    """The last day (<= bound) before a change day, a silence crossing or an onboarding stall."""
    limit = next_change_day - 1
    sil = comps["silence"].value
    if sil.get("silence_days") is not None:  # the first day silence exceeds its threshold
        crossing = day - sil["silence_days"] + int(sil["threshold_days"]) + 1
        if crossing > day:
            limit = min(limit, crossing - 1)
    waited = comps["lifecycle"].value.get("days_waiting")
    if waited is not None:  # the day a waiting customer's onboarding counts as stalled
        stalls = day - waited + config.alerts.silence.onboarding_days
        if stalls > day:
            limit = min(limit, stalls - 1)
    return min(limit, bound)


def quiet_until(state, day: int, score, comps, plan: Plan, due: int, config, half: float | None = None) -> int:
    """Last day <= due up to which ticks after `day` provably change nothing (half: the tick's half width)."""
    limit = _stretch_limit(state, day, comps, plan.next_change(None, day), due, config)
    if limit <= day:
        return day
    if state.pending is not None:
        return day
    half = half_width(comps, config) if half is None else half
    top = rules.peak(state, day, config.alerts.score_drop.window_days)  # the same for every k tried
    if _safe(state, day, score, half, comps, limit - day, config, top):  # the usual case: the whole stretch
        return limit
    lo, hi = 0, limit - day - 1  # largest k with safe(k); safe is monotone in k
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _safe(state, day, score, half, comps, mid, config, top):
            lo = mid
        else:
            hi = mid - 1
    return day + lo


def quiet_ahead(state, day: int, score, comps, plan: Plan, known: int, config, half: float | None = None) -> int:
    """A day (up to the horizon) through which ticks after `day` provably change nothing, given that
    ticks day + 1 .. known do; `known` when it finds none further. Its caller keeps it while no event
    comes (a sweep closes those days without a tick), so it is found cheaply rather than exactly:
    the whole stretch to the next change day, else the longest of 1, 2, 4, ... days past `known`
    that is safe (each try costs a fraction of the tick it saves)."""
    limit = _stretch_limit(state, day, comps, plan.next_change(None, day), known + config.horizon_days(), config)
    if limit <= known or state.pending is not None:
        return known
    half = half_width(comps, config) if half is None else half
    top = rules.peak(state, day, config.alerts.score_drop.window_days)
    if _safe(state, day, score, half, comps, limit - day, config, top):
        return limit
    through, step = known, 1
    while known + step < limit and _safe(state, day, score, half, comps, known + step - day, config, top):
        through, step = known + step, step * 2
    return through


def _drift(comps: dict, k: int, config) -> tuple[float, float]:
    """Bounds (down, up) on how far the score can fall and rise within k quiet days.

    Each component moves monotonically, so over the stretch it stays between its value now and
    its value after k days: a decay toward its prior moves one way, an ("at", fn) from fn(0) to
    fn(k). Summing the falls and the rises apart (not every move both ways) keeps components
    moving in opposite directions (purchases fading, tenure growing) from doubling the bound,
    which cut quiet stretches into many short ones on a sparse history."""
    down = up = 0.0
    priors = config.priors
    used, total = _weights(config)
    for n, w in used:
        c = comps[n]
        d = c.drift
        if d is None or c.score is None:
            continue
        kind = d[0]
        if kind == "decay":  # toward the prior: down from above it, up from below
            move = w / total * d[2] * (1.0 - 0.5 ** (k / d[1]))
            if c.score > getattr(priors, n):
                down += move
            else:
                up += move
        elif kind == "linear":
            move = w / total * d[1] * k
            down, up = down + move, up + move
        else:  # ("at", fn): monotone, so its end point bounds the move
            move = w / total * (min(100.0, max(0.0, d[1](k))) - c.score)
            if move < 0:
                down -= move
            else:
                up += move
    return down, up


def _safe(state, day: int, score: float, half: float, comps: dict, k: int, config, top: float | None) -> bool:
    """Ticks day + 1 .. day + k change nothing (top: the score_drop peak at day)."""
    down, up = _drift(comps, k, config)
    down, up = down + EPS, up + EPS
    b = config.bands
    if (bands.candidate(state.band, score - down, b, half) != state.band
            or bands.candidate(state.band, score + up, b, half) != state.band):
        return False
    moved = score - state.last_emit[1]
    if _stepped(moved - down, b) or _stepped(moved + up, b):
        return False
    # score_drop: peaks only expire during the stretch, so the peak falls from `top` to `top_end`.
    rule = config.alerts.score_drop
    if top is None:
        return True
    hi = score + half  # the rule reads the upper end of the interval
    if top - hi >= rule.points:  # holds now: must hold at the lowest peak and highest score
        top_end = rules.peak(state, day + k, rule.window_days)
        return top_end is not None and top_end - (hi + up) >= rule.points
    return top - (hi - down) < rule.points
