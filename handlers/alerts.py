"""Alert records: firing on transitions only, resolved when the condition clears.

Cooldown: a condition that starts again within cooldown_days of the last firing
for the same rule and dedupe key is tracked but not paged. alert_id is a hash of
customer, rule, dedupe key and fire day, so the resolved record carries the same
id as its firing and replays produce the same ids.
"""
from __future__ import annotations

import hashlib

from handlers.metrics import lifecycle
from handlers.score import breakdown
from handlers.timeutil import end_of_day, iso

ACTIONS = {
    "entered_red": ("Call the account owner's sponsor this week; review the score breakdown for the driver.",
                    "runbooks/entered_red"),
    "score_drop": ("Check the components that moved; confirm with the customer before it turns red.",
                   "runbooks/score_drop"),
    "detractor": ("Close the loop within 48h: call the respondent, log the reason, agree a fix.",
                  "runbooks/detractor"),
    "negative_mention_spike": ("Coordinate with social/PR; reach out privately to the customer.",
                               "runbooks/negative_mention_spike"),
    "recurring_issue": ("Escalate the category to support/engineering as one problem, not N tickets.",
                        "runbooks/recurring_issue"),
    "silence": ("Reach out with a value check-in; verify the champion is still there.", "runbooks/silence"),
    "cancellation": ("Run the cancellation save/exit play; capture the churn reason.", "runbooks/cancellation"),
}


def alert_id(customer_id: str, rule: str, key: str, fire_day: int) -> str:
    raw = f"{customer_id}\x1f{rule}\x1f{key}\x1f{fire_day}".encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def record(state, rule: str, key: str, status: str, day: int, fire_day: int, evidence: dict,
           summary: str, brief: dict, config) -> dict:
    """One cs.alerts record; brief is the score breakdown it carries (handlers.score.brief)."""
    action, runbook = ACTIONS[rule]
    return {
        "alert_id": alert_id(state.customer_id, rule, key, fire_day),
        "customer_id": state.customer_id,
        "rule": rule,
        "severity": getattr(config.alerts, rule).severity,
        "status": status,
        "dedupe_key": f"{state.customer_id}/{rule}/{key}" if key else f"{state.customer_id}/{rule}",
        "occurred_at": iso(end_of_day(day)),
        "fired_at": iso(end_of_day(fire_day)),
        "evidence": {**evidence, "health": brief},
        "owner": lifecycle.field(state, "owner"),
        "segment": lifecycle.field(state, "segment"),
        "summary": summary if status == "firing" else f"resolved: {summary}",
        "suggested_action": action,
        "runbook": runbook,
        "config_version": config.version,
    }


def transitions(state, day: int, conds: dict, brief_fn, config) -> list[dict]:
    """Compare conditions with state.active; return new firing/resolved records (brief_fn() gives
    the score breakdown each carries, a new dict each call)."""
    out = []
    for rk in sorted(conds.keys() - state.active.keys()):
        rule, key, evidence, summary = conds[rk]
        last = state.fired.get(rk)
        if last is not None and day - last < getattr(config.alerts, rule).cooldown_days:
            state.active[rk] = [day, -1]  # within cooldown: remember, do not page
            continue
        state.active[rk] = [day, day]
        state.fired[rk] = day
        out.append(record(state, rule, key, "firing", day, day, evidence, summary, brief_fn(), config))
    for rk in sorted(state.active.keys() - conds.keys()):
        since, fire_day = state.active.pop(rk)
        if fire_day >= 0:
            rule, _, key = rk.partition("|")
            out.append(record(state, rule, key, "resolved", day, fire_day, {"active_since": iso(end_of_day(since))},
                              f"{rule.replace('_', ' ')} condition cleared", brief_fn(), config))
    return out


def still_firing(state, health: dict, config) -> list[dict]:
    """Firing records for the paged conditions still active, as of their fire day.

    A pager forgets an alert that is not re-posted (Alertmanager after its endsAt); the
    state does not, so a worker that (re)gains a customer can page its open alerts again."""
    out = []
    for rk, (since, fire_day) in sorted(state.active.items()):
        if fire_day < 0:
            continue  # within cooldown: never paged
        rule, _, key = rk.partition("|")
        out.append(record(state, rule, key, "firing", since, fire_day, {"active_since": iso(end_of_day(since))},
                          f"{rule.replace('_', ' ')} still active", breakdown(health), config))
    return out


def prune(state, cursor_day: int, config) -> None:
    for rk in [rk for rk, d in state.fired.items()
               if rk not in state.active and cursor_day - d >= getattr(config.alerts, rk.partition("|")[0]).cooldown_days]:
        del state.fired[rk]
