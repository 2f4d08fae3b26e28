"""Alert quality against the simulator's ground truth: recall on scripted stories, false alerts
on healthy customers, and how long after a story turns the first alert comes."""
from __future__ import annotations

from collections import defaultdict
from statistics import median

from handlers.timeutil import parse_ts

MUST_ALERT = ("sour", "quiet_churner", "stalled_onboarding")
MUST_NOT_ALERT = ("healthy", "noisy_healthy")


def evaluate(alerts: list[dict], truth: list[dict], days: float) -> dict:
    """Summary of alert quality. `alerts` are cs.alerts records (firing and resolved)."""
    firing = defaultdict(list)
    for alert in alerts:
        if alert.get("status") == "firing":
            firing[alert["customer_id"]].append(alert)
    report: dict = {"stories": {}, "simulated_days": days}
    by_story = defaultdict(list)
    for row in truth:
        by_story[row["story"]].append(row)
    for story, rows in sorted(by_story.items()):
        alerted = [r for r in rows if firing.get(r["customer_id"])]
        entry = {"customers": len(rows), "alerted": len(alerted), "share_alerted": round(len(alerted) / len(rows), 4)}
        if story in MUST_ALERT:
            delays, missed = [], []
            for row in rows:
                turns = parse_ts(row["turns_at"]) if row.get("turns_at") else None
                after = sorted(parse_ts(a["occurred_at"]) for a in firing.get(row["customer_id"], [])
                               if turns is None or parse_ts(a["occurred_at"]) >= turns)
                if not after:
                    missed.append(row["customer_id"])
                elif turns is not None:
                    delays.append((after[0] - turns) / 86_400_000)
            entry |= {"recall": round(1 - len(missed) / len(rows), 4), "missed": missed[:20],
                      "days_to_first_alert_median": round(median(delays), 2) if delays else None,
                      "days_to_first_alert_max": round(max(delays), 2) if delays else None}
        if story in MUST_NOT_ALERT:
            count = sum(len(firing.get(r["customer_id"], [])) for r in rows)
            months = days / 30.0
            entry |= {"false_alerts": count, "false_alert_rate_per_customer_month": round(count / len(rows) / months, 4),
                      "share_with_false_alert_per_month": round(len(alerted) / len(rows) / months, 4),
                      "rules": dict(sorted(_rules(firing, rows).items()))}
        report["stories"][story] = entry
    return report


def _rules(firing: dict, rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        for alert in firing.get(row["customer_id"], []):
            counts[alert["rule"]] += 1
    return counts
