"""Alert rule conditions evaluated at a daily tick.

Each rule yields the conditions that hold at the tick, keyed "rule|dedupe key",
with evidence (values and thresholds) and a one-line summary. handlers/alerts.py
turns changes in this set into firing/resolved records (transitions only).
"""
from __future__ import annotations

RULES = ("entered_red", "score_drop", "detractor", "negative_mention_spike", "recurring_issue", "silence", "cancellation")


def peak(state, day: int, window_days: int) -> float | None:
    return max((s for d, s in state.peaks if day - window_days < d <= day), default=None)


def conditions(state, day: int, score: float, half: float, comps: dict, config) -> dict[str, tuple[str, str, dict, str]]:
    """score +- half is the score's interval: entered_red holds in the red band, which needs the whole
    interval below red_enter; score_drop measures the fall from the peak to the interval's upper end."""
    a, out = config.alerts, {}

    def hold(rule: str, key: str, evidence: dict, summary: str) -> None:
        if getattr(a, rule).enabled:
            out[f"{rule}|{key}"] = (rule, key, evidence, summary)

    interval = [_r(score - half), _r(score + half)]
    if state.band == "red":
        hold("entered_red", "", {"score": _r(score), "interval": interval, "red_enter": config.bands.red_enter},
             f"health is red ({_r(score)}, interval {interval[0]}-{interval[1]})")
    top = peak(state, day, a.score_drop.window_days)
    hi = score + half
    if (top is not None and top - hi >= a.score_drop.points
            and not (a.score_drop.out_of_green and state.band == "green")):
        hold("score_drop", "", {"score": _r(score), "interval": interval, "peak": top, "drop": _r(top - score),
                                "drop_beyond_interval": _r(top - hi), "band": state.band,
                                "points": a.score_drop.points, "window_days": a.score_drop.window_days},
             f"health fell {top - score:.0f} points (from {top:.0f} to {score:.0f}, at most {hi:.0f}) "
             f"within {a.score_drop.window_days} days")
    latest = comps["nps"].value.get("latest")
    if latest is not None and latest <= a.detractor.max_score:
        hold("detractor", "", {"last_nps_score": latest, "max_score": a.detractor.max_score},
             f"latest NPS answer is a strong detractor ({latest})")
    men = comps["sentiment"].value
    neg, base, x = men["negative_mentions"], men["baseline"], men["spike"]
    if neg >= a.negative_mention_spike.min_count and x >= a.negative_mention_spike.factor:
        hold("negative_mention_spike", "", {"negative_mentions": neg, "baseline_per_window": round(base, 2),
                                            "spike": round(x, 2), "min_count": a.negative_mention_spike.min_count,
                                            "factor": a.negative_mention_spike.factor},
             f"{neg} negative mentions in {config.windows.mentions} days, {x:.1f}x the usual")
    for cat, count in (comps["support"].value.get("recurring") or {}).items():
        hold("recurring_issue", cat, {"category": cat, "tickets": count, "min_count": a.recurring_issue.min_count,
                                      "window_days": a.recurring_issue.window_days},
             f"{count} '{cat}' tickets in {a.recurring_issue.window_days} days")
    sil = comps["silence"].value
    waited = comps["lifecycle"].value.get("days_waiting")
    if sil.get("silence_days") is not None and sil["silence_days"] > sil["threshold_days"]:
        hold("silence", "", {"silence_days": sil["silence_days"], "threshold_days": round(sil["threshold_days"], 1)},
             f"no contact for {sil['silence_days']} days (usual limit {sil['threshold_days']:.0f})")
    elif waited is not None and waited >= a.silence.onboarding_days:
        # Stalled onboarding: signed up onboarding_days ago and still not activated, busy or not.
        hold("silence", "", {"days_waiting": waited, "onboarding_days": a.silence.onboarding_days},
             f"not activated {waited} days after signing up (onboarding stalls after {a.silence.onboarding_days})")
    if "cancelled_at" in comps["lifecycle"].value:
        hold("cancellation", "", dict(comps["lifecycle"].value), "customer cancelled")
    return out


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
