"""Purchases, revenue, CLV, contract size, expansion/contraction and NRR.

Definitions (amounts are in the event's currency; no FX conversion):
- a *purchase* is kind new / repeat / renewal / expansion; repeat_purchases =
  every purchase after the customer's first. `contraction` amounts are the
  recurring revenue given up, `refund` amounts money returned; neither is a purchase.
- revenue (historical CLV) = sum of purchase amounts - refunds, lifetime.
- mean_order_value = purchase amounts / purchases.
- predicted_clv = mean_order_value x purchases per year x clv.expected_lifetime_years,
  purchases per year = purchases x 365 / max(tenure days, clv.min_tenure_days).
- contract_value = the latest `contract_value` seen (by event time).
- NRR over the revenue window = (start + expansion - contraction - churned) / start,
  start = contract_value in force at the window start (customers without one are
  not counted: null); churned = everything (NRR 0) when cancelled inside the window.
Bucket: day -> [purchases, purchase amount, expansion, contraction, refunds].
Totals: [purchases, gross, refunds, first_ms, last_ms, distinct purchase days].
The purchases component (when purchases.model = "bgnbd") is a BG/NBD reading of the purchase days up
to the tick: expected purchase days in the next purchases.horizon_days against those of a customer
with no history yet (which reads the prior), so buying more often, or recently for one's rhythm,
ranks higher, continuously.
"""
from __future__ import annotations

import bisect

import math

from handlers.buckets import window
from handlers.events import Purchase
from handlers.metrics import bgnbd
from handlers.metrics.lifecycle import lifecycle_days
from handlers.score import Component, relative, unknown
from handlers.state import by_day
from handlers.timeutil import DAY_MS, day_of, iso

PURCHASE_KINDS = frozenset(("new", "repeat", "renewal", "expansion"))

CONSTANT = False  # the purchases component (BG/NBD) moves every day without a purchase


def fold(state, event, config) -> None:
    if not isinstance(event, Purchase):
        return
    day, kind, amount, t = day_of(event.occurred_at_ms), event.purchase_kind, event.amount, state.totals
    b = state.purchases.get(day)
    if b is None:
        b = state.purchases[day] = [0, 0.0, 0.0, 0.0, 0.0]
    if kind in PURCHASE_KINDS:
        if len(t) < 6:  # states from before distinct purchase days were counted
            t.append(t[0])
        t[5] += b[0] == 0  # a new purchase day (BG/NBD counts days, not orders)
        b[0] += 1
        b[1] += amount
        t[0] += 1
        t[1] += amount
        t[3] = event.occurred_at_ms if t[3] is None else min(t[3], event.occurred_at_ms)
        t[4] = event.occurred_at_ms if t[4] is None else max(t[4], event.occurred_at_ms)
    if kind == "expansion":
        b[2] += amount
    elif kind == "contraction":
        b[3] += amount
    elif kind == "refund":
        b[4] += amount
        t[2] += amount
    if event.contract_value is not None:
        bisect.insort(state.contract, [event.occurred_at_ms, event.contract_value])


def prune(state, cursor_day: int, config) -> None:
    """Keep contract values inside the revenue window plus the one in force at its start."""
    start_ms = (cursor_day - config.windows.revenue + 1) * DAY_MS
    i = bisect.bisect_left(state.contract, [start_ms])
    if i > 1:
        del state.contract[: i - 1]


def contract_at(state, ms: int) -> float | None:
    i = bisect.bisect_right(state.contract, [ms, float("inf")])
    return state.contract[i - 1][1] if i else None


@by_day
def window_revenue(state, day: int, config) -> tuple[float, float, float]:
    exp = con = ref = 0.0
    for _, b in window(state.purchases, day, config.windows.revenue):
        exp, con, ref = exp + b[2], con + b[3], ref + b[4]
    return exp, con, ref


@by_day
def nrr(state, day: int, config) -> tuple[float | None, float | None]:
    """(NRR, starting recurring) over the revenue window ending at day."""
    start = contract_at(state, (day - config.windows.revenue + 1) * DAY_MS - 1)
    if not start:
        return None, start
    cancelled = state.profile.get("cancelled_at")
    if cancelled and cancelled[0] is not None and day - config.windows.revenue < day_of(cancelled[0]) <= day:
        return 0.0, start
    exp, con, _ = window_revenue(state, day, config)
    return max(0.0, (start + exp - con) / start), start


def read(state, as_of_ms: int, config) -> dict:
    day = day_of(as_of_ms)
    count, gross, refunds, first_ms, last_ms = state.totals[:5]
    exp, con, ref = window_revenue(state, day, config)
    mov = gross / count if count else None
    predicted = None
    if count:
        tenure = max(day - day_of(first_ms), config.clv.min_tenure_days)
        predicted = mov * (count * 365.0 / tenure) * config.clv.expected_lifetime_years
    ratio, _ = nrr(state, day, config)
    return {
        "purchases": count,
        "repeat_purchases": max(0, count - 1),
        "revenue": round(gross - refunds, 2),
        "first_purchase_at": iso(first_ms),
        "last_purchase_at": iso(last_ms),
        "purchase_recency_days": None if last_ms is None else max(0, day - day_of(last_ms)),
        "mean_order_value": None if mov is None else round(mov, 2),
        "clv": round(gross - refunds, 2),
        "predicted_clv": None if predicted is None else round(predicted, 2),
        "contract_value": contract_at(state, as_of_ms),
        "expansion_revenue": round(exp, 2),
        "contraction_revenue": round(con, 2),
        "refunds": round(ref, 2),
        "refunds_lifetime": round(refunds, 2),
        "net_revenue_retention": None if ratio is None else round(ratio, 4),
    }


def components(state, day: int, config) -> dict[str, Component]:
    out = {"purchases": buying(state, day, config)}
    ratio, start = nrr(state, day, config)
    if ratio is None:
        out["revenue"] = unknown("no contract value at window start")
        return out
    c = config.components
    p = config.priors.revenue
    # NRR 100% reads the prior; logistic in log NRR, so it never saturates.
    score = 100.0 / (1.0 + (100.0 - p) / p * math.exp(-c.nrr_steepness * math.log(max(ratio, 1e-6))))
    out["revenue"] = Component(score, {"nrr": round(ratio, 4), "starting_recurring": start},
                               ("NRR {:.0f}%", (100 * ratio,)), evidence=1.0)
    return out


def history(state, day: int) -> tuple[int, int, int] | None:
    """(repeat purchase days x, first purchase day, last purchase day) up to day; None before any.
    Days newer than `day` are taken out of the lifetime totals (a tick reads nothing after its day)."""
    t = state.totals
    if not t[0] or day_of(t[3]) > day:
        return None
    days = t[5] if len(t) > 5 else t[0]
    later = 0
    last = None
    for d, b in state.purchases.items():
        if b[0]:
            if d > day:
                later += 1
            elif last is None or d > last:
                last = d
    if last is None:  # every purchase up to day was pruned: the newest pruned is at most the floor
        last = min(day_of(t[4]), day - 1)
    return max(0, days - later - 1), day_of(t[3]), last


def buying(state, day: int, config) -> Component:
    m = config.purchases
    h = history(state, day) if m.model == "bgnbd" else None
    if h is None:
        return unknown("no purchases yet" if m.model == "bgnbd" else "purchase model off")
    x, first, last = h
    params, horizon, p = m.params, m.horizon_days, config.priors.purchases
    base = bgnbd.expected_new(horizon, params)

    def at(k: int) -> float:
        return relative(bgnbd.expected(horizon, x, float(last - first), float(day + k - first), params), base, p)

    score = at(0)
    quiet = day - last
    note = ("{} purchase days, last {} days ago", (x + 1, quiet))
    return Component(score, {"purchase_days": x + 1, "days_since_purchase": quiet},
                     note, ("at", at), evidence=x + 1.0, latest=last,
                     drift_note=("no purchase for {} days: expected fewer", (quiet,)))


def change_sources(state, config) -> list[tuple]:
    """BG/NBD moves on purchase days. NRR moves when its window's end or start passes an expansion
    or a contraction, a contract value other than the one before it, or a cancellation; a purchase
    leaving the window with none of these (most do) changes nothing, and is no change day."""
    moved = [d for d, b in state.purchases.items() if b[2] or b[3]]
    values, before = [], None
    for ms, value in state.contract:
        if value != before:
            values.append(day_of(ms))
        before = value
    profile_days = lifecycle_days(state)
    return [([*state.purchases, *profile_days], (0,)),
            ([*moved, *values, *profile_days], (0, config.windows.revenue))]
