"""The measures of `cshealth validate`, on the simulator and on a real purchase history."""
from __future__ import annotations

import importlib
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from statistics import median

from handlers.config import COMPONENTS, HealthConfig
from handlers.metrics.bgnbd import expected
from handlers.metrics.lifecycle import is_activity
from handlers.events import decode, is_employee_survey
from handlers.timeutil import DAY_MS, day_of, parse_ts
from streams.validation import cdnow
from streams.validation.ceiling import cdnow_ceiling
from streams.validation.paging import quiet_paging_cost
from streams.validation.auc import auc
from streams.validation.bgnbd_fit import fit
from streams.validation.fold import fold

AT_RISK = ("sour", "quiet_churner", "stalled_onboarding")
CALM = ("healthy", "noisy_healthy")


def _module(*names: str):
    """The first importable of `names` (the simulator moves into streams.sim)."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(f"none of {names}")


def prior_of(config: HealthConfig, name: str) -> float:
    priors = getattr(config, "priors", None)
    return 50.0 if priors is None else getattr(priors, name)


def overall_prior(config: HealthConfig) -> float:
    w = config.weights
    total = sum(getattr(w, n) for n in COMPONENTS)
    return sum(getattr(w, n) * prior_of(config, n) for n in COMPONENTS) / total


def simulator(config: HealthConfig, customers: int, days: int, seed: int, cutoff_share: float) -> dict:
    sim_mod = _module("streams.sim.simulator", "streams.simulator")
    quality = _module("streams.sim.alert_quality", "streams.alert_quality", "streams.validation.alert_quality")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    sim = sim_mod.simulate(sim_mod.SimulationConfig(customers=customers, days=days, seed=seed, start=start))
    records, truth = list(sim.events()), sim.truth()
    start_ms = int(start.timestamp() * 1000)
    end_ms = start_ms + days * DAY_MS
    cutoff_ms = start_ms + int(cutoff_share * days) * DAY_MS - 1
    t0 = time.monotonic()
    folded = fold(records, config, cutoff_ms, end_ms + DAY_MS + config.time.lateness_ms)
    seconds = time.monotonic() - t0
    # Churn by the end, among customers who had not cancelled (and had shown up) by the cut-off.
    retained, scores, recency = [], [], []
    last_active: dict[str, int] = {}
    histories: dict[str, list[int]] = defaultdict(list)
    active_days: dict[str, set[int]] = defaultdict(set)  # the whole period, as the silence component reads it
    for rec in records:
        ev = decode_record(rec)
        if ev is None or not is_activity(ev) or is_employee_survey(ev):
            continue
        active_days[ev.customer_id].add(day_of(ev.occurred_at_ms))
        if ev.occurred_at_ms > cutoff_ms:
            continue
        last_active[ev.customer_id] = max(last_active.get(ev.customer_id, 0), ev.occurred_at_ms)
        histories[ev.customer_id].append(day_of(ev.occurred_at_ms))
    rows = []
    for row in truth:
        cid, snap = row["customer_id"], folded.at_cutoff.get(row["customer_id"])
        cancelled = parse_ts(row["cancelled_at"]) if row.get("cancelled_at") else None
        if snap is None or snap["health"]["score"] is None or (cancelled is not None and cancelled <= cutoff_ms):
            continue
        rows.append(cid)
        retained.append(cancelled is None or cancelled > end_ms)
        scores.append(snap["health"]["exact_score"])
        recency.append(-(cutoff_ms - last_active[cid]) if cid in last_active else -(cutoff_ms - start_ms))
    cut_day = day_of(cutoff_ms)
    hist = {c: _history(histories[c], cut_day) for c in rows if histories.get(c)}
    params = fit(list(hist.values()))
    horizon = (end_ms - cutoff_ms) / DAY_MS
    model = [expected(horizon, *hist[c], params) if c in hist else 0.0 for c in rows]
    report = {
        "customers": customers, "days": days, "seed": seed, "events": len(records),
        "cutoff_day": int(cutoff_share * days), "fold_seconds": round(seconds, 1),
        "auc": {"score": auc(scores, retained), "recency": auc(recency, retained), "bgnbd": auc(model, retained)},
        "scored": len(rows), "churned": retained.count(False), "bgnbd_params": [round(v, 4) for v in params],
    }
    report |= calm(folded.changes, truth, end_ms, config)
    report["alerts"] = _alerts(quality.evaluate(folded.alerts, truth, days))
    report["newcomers_above_prior"] = newcomers_above_prior(folded.changes, truth, start_ms, config)
    turns = {r["customer_id"]: day_of(parse_ts(r["turns_at"])) for r in truth
             if r["story"] == "quiet_churner" and r.get("turns_at")}
    report["quiet_paging_cost"] = quiet_paging_cost(active_days, truth, turns)
    return report


def decode_record(rec: dict):
    import orjson

    ev = decode(orjson.dumps(rec))
    return None if hasattr(ev, "reason") else ev


def _history(days: list[int], cut_day: int) -> tuple[int, float, float]:
    distinct = sorted(set(days))
    return len(distinct) - 1, float(distinct[-1] - distinct[0]), float(cut_day + 1 - distinct[0])


def calm(changes: list[dict], truth: list[dict], end_ms: int, config: HealthConfig) -> dict:
    """Health-change records per customer-month by story (months from the customer's first record
    to the end), the median move, the at-risk stories' rate after their turn, and explanation parts
    that argue against their own component's move."""
    per = defaultdict(list)
    for ch in changes:
        per[ch["customer_id"]].append(ch)
    counts, months, moves = defaultdict(int), defaultdict(float), defaultdict(list)
    turned_n, turned_months = 0, 0.0
    for row in truth:
        chs = per.get(row["customer_id"], [])
        if not chs:
            continue
        s = row["story"]
        counts[s] += len(chs)
        months[s] += (end_ms - parse_ts(chs[0]["occurred_at"])) / DAY_MS / 30.0
        moves[s] += [abs(c["delta"]) for c in chs if c["previous_score"] is not None]
        if s in AT_RISK and row.get("turns_at"):
            turn = parse_ts(row["turns_at"])
            turned_n += sum(1 for c in chs if parse_ts(c["occurred_at"]) >= turn)
            turned_months += max(0.0, (end_ms - turn) / DAY_MS / 30.0)
    out = {"changes_per_month": {s: round(counts[s] / months[s], 2) for s in sorted(months) if months[s]},
           "median_move": {s: (round(median(moves[s]), 1) if moves[s] else None) for s in sorted(months)}}

    def rate(stories) -> float | None:
        m = sum(months[s] for s in stories)
        return round(sum(counts[s] for s in stories) / m, 3) if m else None

    out["calm_rate"] = rate(CALM)
    out["healthy_rate"] = rate(("healthy",))
    out["at_risk_rate"] = rate(AT_RISK)
    out["at_risk_rate_after_turn"] = round(turned_n / turned_months, 3) if turned_months else None
    out["healthy_median_move"] = out["median_move"].get("healthy")
    out["contrary_parts"] = contrary_parts(per.values(), config)
    return out


def contrary_parts(per_customer, config: HealthConfig) -> dict:
    """Explanation parts of >= 1 point whose sign differs from their component's move (relative
    to its prior when it was unknown before or is unknown now)."""
    bad, total, examples = 0, 0, []
    for chs in per_customer:
        before = None
        for ch in chs:
            comps = ch["health"]["components"]
            for name, part in ch["delta_by_component"].items():
                if abs(part) < 1.0:
                    continue
                total += 1
                prior = prior_of(config, name)
                now = comps[name]["score"]
                was = None if before is None else before[name]["score"]
                now = prior if now is None else now
                was = prior if was is None else was
                if (now - was) * part < 0:
                    bad += 1
                    if len(examples) < 5:
                        examples.append(ch["explanation"])
            before = comps
    return {"parts": total, "contrary": bad, "examples": examples}


def newcomers_above_prior(changes: list[dict], truth: list[dict], start_ms: int, config: HealthConfig) -> dict:
    """Customers who signed up inside the period: share whose first score is above the prior."""
    newcomers = {r["customer_id"] for r in truth if parse_ts(r["signed_up_at"]) >= start_ms}
    first: dict[str, float] = {}
    for ch in changes:
        if ch["customer_id"] in newcomers and ch["customer_id"] not in first:
            first[ch["customer_id"]] = ch["score"]
    prior = overall_prior(config)
    above = sum(1 for s in first.values() if s > prior + 0.05)
    return {"newcomers": len(first), "above_prior": above, "prior": round(prior, 1),
            "share_at_100": round(sum(1 for s in first.values() if s >= 99.95) / len(first), 3) if first else None}


def _alerts(report: dict) -> dict:
    stories = report["stories"]
    out = {"recall": {s: stories[s].get("recall") for s in AT_RISK if s in stories},
           "days_to_first_alert_median": {s: stories[s].get("days_to_first_alert_median") for s in AT_RISK if s in stories}}
    calm_rows = [stories[s] for s in CALM if s in stories]
    n = sum(s["customers"] for s in calm_rows)
    alerted = sum(s["alerted"] for s in calm_rows)
    out["healthy_alerted_per_month"] = round(alerted / n / (report["simulated_days"] / 30), 4) if n else None
    return out


def real_history(config: HealthConfig, data_path=None) -> dict:
    p = data_path or cdnow.path()
    rows = cdnow.read(p)
    cutoff = cdnow.cutoff_ms()
    records = cdnow.events(rows)
    t0 = time.monotonic()
    folded = fold(records, config, cutoff, cutoff)
    seconds = time.monotonic() - t0
    outcome = cdnow.outcomes(rows)
    hist = cdnow.histories(rows)
    params = fit(list(hist.values()))
    horizon = (cdnow.END - cdnow.CUTOFF).days
    ids = sorted(outcome)
    labels = [outcome[c] for c in ids]
    scores = [folded.at_cutoff[c]["health"]["exact_score"] for c in ids]
    shown = [folded.at_cutoff[c]["health"]["score"] for c in ids]
    recency = [-(hist[c][2] - hist[c][1]) for c in ids]
    model = [expected(horizon, *hist[c], params) for c in ids]
    distinct = len(set(round(s, 1) for s in scores))
    out = {
        "data": "CDNOW (lifetimes 0.11.3 wheel), 23,570 customers; folded to 1997-09-30, outcome: buys 1997-10-01..1998-06-30",
        "customers": len(ids), "buy_again": sum(labels), "fold_seconds": round(seconds, 1),
        "auc": {"score": auc(scores, labels), "score_shown": auc(shown, labels), "recency": auc(recency, labels),
                "bgnbd": auc(model, labels)},
        "bgnbd_params": [round(v, 4) for v in params],
        "distinct_scores": distinct,
        "share_at_0_or_100": round(sum(1 for s in scores if s <= 0.05 or s >= 99.95) / len(scores), 3),
        "new_above_prior": _first_scores_above_prior(folded.changes, config),
    }
    t0 = time.monotonic()
    out["ceiling"] = cdnow_ceiling(rows, outcome)
    out["ceiling"]["seconds"] = round(time.monotonic() - t0, 1)
    return out


def _first_scores_above_prior(changes: list[dict], config: HealthConfig) -> dict:
    first: dict[str, float] = {}
    for ch in changes:
        first.setdefault(ch["customer_id"], ch["score"])
    prior = overall_prior(config)
    return {"customers": len(first), "above_prior": sum(1 for s in first.values() if s > prior + 0.05),
            "at_100": sum(1 for s in first.values() if s >= 99.95)}
