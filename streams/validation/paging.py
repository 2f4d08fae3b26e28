"""Quiet churners: what paging a day after their turn would cost in healthy customers.

A quiet churner's turn is the first day of a silence. A silence rule can only read it against the
customer's own rhythm (the mean gap between active days), so the question is how long the silence is,
in mean gaps, a day after the turn, and how often healthy customers go that long without a sign of
life. Active days are those the score's silence component counts (handlers.metrics.lifecycle
is_activity); each healthy gap longer than the multiple would page once.
"""
from __future__ import annotations

import math
from statistics import mean, median

MONTH_DAYS = 30.4


def _gaps(days) -> list[int]:
    d = sorted(days)
    return [b - a for a, b in zip(d, d[1:])]


def quiet_paging_cost(active_days: dict[str, set[int]], truth: list[dict], turn_days: dict[str, int],
                      budget: float = 0.02) -> dict:
    """active_days: customer -> active day numbers; truth: simulator rows (customer_id, story);
    turn_days: quiet churner -> day number of its turn. Quiet churners count with 2 or more gaps
    before the turn, healthy customers with 3 or more gaps; a healthy customer's months run from its
    first to its last active day."""
    rhythm = []  # (turn, last active day before it, mean gap before it) of each quiet churner
    for cid, turn in turn_days.items():
        before = [d for d in active_days.get(cid, ()) if d < turn]
        if len(before) > 2:
            rhythm.append((turn, max(before), mean(_gaps(before))))
    needed = [(turn + 1 - last) / gap for turn, last, gap in rhythm]
    ratios, months = [], 0.0  # each healthy gap over its customer's mean gap
    for row in truth:
        d = active_days.get(row["customer_id"], ())
        if row["story"] != "healthy" or len(d) < 4:
            continue
        gaps = _gaps(d)
        m = mean(gaps)
        ratios += [g / m for g in gaps]
        months += (max(d) - min(d)) / MONTH_DAYS

    def paged(k: float) -> float | None:
        return sum(1 for r in ratios if r > k) / months if months else None

    k = median(needed) if needed else None
    out = {"quiet_churners": len(needed), "multiple_day_after_turn": k, "healthy_customers_months": months,
           "healthy_paged_share": None if k is None else paged(k), "budget": budget}
    # The smallest multiple (0.1 steps) paging healthy customers in under `budget` of their months:
    # fewer than budget x months gaps may exceed it.
    allowed = math.ceil(budget * months) - 1
    top = sorted(ratios, reverse=True)
    n = 0.0 if allowed >= len(top) else math.ceil(round(top[allowed] * 10, 9)) / 10
    out["budget_multiple"] = n
    out["healthy_paged_share_at_budget_multiple"] = paged(n)
    # With that rule a quiet churner is paged when its silence reaches n mean gaps: days after the turn
    # (0 when its silence had reached them before the turn).
    delays = [max(0.0, last + n * gap - turn) for turn, last, gap in rhythm]
    out["quiet_days_to_alert_at_budget_multiple"] = median(delays) if delays else None
    return out
