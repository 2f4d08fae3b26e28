"""The goals of issue 14 checked against one validation run, as a table."""
from __future__ import annotations


def checks(sim: dict, real: dict | None) -> list[tuple[str, str, str, bool | None]]:
    """(measure, value, goal, met) rows; met None when the measure could not be taken."""
    rows = []

    def row(name: str, value, goal: str, ok: bool | None, fmt: str = "{}") -> None:
        rows.append((name, "n/a" if value is None else fmt.format(value), goal, ok))

    if real is not None:
        a = real["auc"]
        row("real history AUC: score", a["score"], f">= BG/NBD ({a['bgnbd']:.3f})",
            a["score"] >= a["bgnbd"], "{:.3f}")
        row("real history AUC: score vs recency", a["score"] - a["recency"], ">= +0.02",
            a["score"] - a["recency"] >= 0.02, "{:+.3f}")
        row("real history AUC: recency / BG/NBD", f"{a['recency']:.3f} / {a['bgnbd']:.3f}", "(baselines)", None)
        c = real["ceiling"]
        row(f"real history AUC: ceiling ({c['folds']}-fold CV logistic on {len(c['features'])} purchase features, "
            "fitted on the outcomes)", c["cv_auc"], f"(upper reference; recency + 0.02 = {a['recency'] + 0.02:.3f})",
            None, "{:.3f}")
        row("real history AUC: score vs ceiling", a["score"] - c["cv_auc"], "proposed: >= -0.010 and >= BG/NBD",
            None, "{:+.3f}")
        row("real history: new customers above the prior", real["new_above_prior"]["above_prior"], "0",
            real["new_above_prior"]["above_prior"] == 0)
    a = sim["auc"]
    row("simulator AUC: score (churn by the end)", a["score"], ">= 0.85", a["score"] >= 0.85, "{:.3f}")
    row("simulator AUC: recency / BG/NBD", f"{a['recency']:.3f} / {a['bgnbd']:.3f}", "(baselines)", None)
    h = sim["healthy_rate"]
    row("healthy: health changes / month", h, "<= 0.5", h <= 0.5, "{:.2f}")
    row("healthy: median move", sim["healthy_median_move"], "(points)", None)
    r = sim["at_risk_rate"]
    row("at-risk stories: changes / month", r, f">= 3x healthy ({3 * h:.2f})", r >= 3 * h, "{:.2f}")
    t = sim["at_risk_rate_after_turn"]
    row("at-risk stories after their turn: changes / month", t, f">= 3x healthy ({3 * h:.2f})",
        None if t is None else t >= 3 * h, "{:.2f}")
    al = sim["alerts"]
    for story, recall in al["recall"].items():
        row(f"recall: {story}", recall, "100 %", recall == 1.0, "{:.0%}")
    for story, days in al["days_to_first_alert_median"].items():
        row(f"median days to first alert: {story}", days, "< 1", None if days is None else days < 1, "{:.2f}")
    q = sim["quiet_paging_cost"]
    row("quiet churners a day after their turn: silence / own mean gap (median)", q["multiple_day_after_turn"],
        f"({q['quiet_churners']} quiet churners)", None, "{:.2f}")
    row("healthy customer-months paged by a rule firing at that multiple", q["healthy_paged_share"],
        f"(budget < {q['budget']:.0%})", None, "{:.0%}")
    row(f"smallest multiple paging healthy customer-months < {q['budget']:.0%}",
        f"{q['budget_multiple']:.1f} ({q['healthy_paged_share_at_budget_multiple']:.2%})", "(mean gaps)", None)
    row("quiet churners: median days to first alert at that multiple", q["quiet_days_to_alert_at_budget_multiple"],
        f"proposed: before silence reaches {q['budget_multiple']:.1f} x own mean gap", None, "{:.1f}")
    row("healthy customers alerted / month", al["healthy_alerted_per_month"], "< 2 %",
        al["healthy_alerted_per_month"] < 0.02, "{:.2%}")
    n = sim["newcomers_above_prior"]
    row("simulator: new customers starting above the prior", f"{n['above_prior']} of {n['newcomers']}", "0",
        n["above_prior"] == 0)
    c = sim["contrary_parts"]
    row("explanation parts >= 1 point against their component's move", f"{c['contrary']} of {c['parts']}", "0",
        c["contrary"] == 0)
    return rows


def table(rows) -> str:
    lines = ["| measure | value | goal | met |", "| --- | --- | --- | --- |"]
    for name, value, goal, ok in rows:
        lines.append(f"| {name} | {value} | {goal} | {'' if ok is None else 'yes' if ok else 'NO'} |")
    return "\n".join(lines)
