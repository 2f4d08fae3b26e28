"""Support tickets: per-category counts (recurring issues), reopens, open tickets.

A recurring issue is one category opened/reopened at least alerts.recurring_issue.min_count
times within alerts.recurring_issue.window_days at one of alerts.recurring_issue.priorities
(a burst of the same problem the customer flags as hurting, e.g. three high-priority billing
tickets in two weeks), not a busy month of routine how-to questions.

Bucket: day -> [opened, closed, reopened, {category: opened+reopened},
{category: {priority: opened+reopened}}] (older 4-item buckets: every ticket counts).
Open tickets come from ticket_id -> [occurred_at_ms, status code], keeping the
status with the greatest (time, code), so duplicates and out-of-order delivery
give the same answer. The map is bounded (closed tickets leave it after the
ticket window; at most MAX_TRACKED entries).
"""
from __future__ import annotations

from handlers.buckets import window
from handlers.events import Ticket
from handlers.score import Component, relative, unknown
from handlers.state import by_day
from handlers.timeutil import DAY_MS, day_of

STATUS = {"opened": 0, "closed": 1, "reopened": 2}
MAX_TRACKED = 256

CONSTANT = False  # support reads the observed days (first month of a customer)


def fold(state, event, config) -> None:
    if not isinstance(event, Ticket):
        return
    code = STATUS[event.status]
    day = day_of(event.occurred_at_ms)
    b = state.tickets.get(day)
    if b is None:
        b = state.tickets[day] = [0, 0, 0, {}, {}]
    b[code] += 1
    if code != 1:
        b[3][event.category] = b[3].get(event.category, 0) + 1
        if len(b) > 4:
            by_prio = b[4].setdefault(event.category, {})
            by_prio[event.priority] = by_prio.get(event.priority, 0) + 1
    prev = state.ticket_status.get(event.ticket_id)
    if prev is None or (event.occurred_at_ms, code) > tuple(prev):
        state.ticket_status[event.ticket_id] = [event.occurred_at_ms, code]
    if state.first_ticket_ms is None or event.occurred_at_ms < state.first_ticket_ms:
        state.first_ticket_ms = event.occurred_at_ms


def prune(state, cursor_day: int, config) -> None:
    """Forget closed tickets older than the window; cap the map (oldest first)."""
    cutoff = (cursor_day - config.windows.tickets) * DAY_MS
    ts = state.ticket_status
    for tid in [t for t, (ms, code) in ts.items() if code == 1 and ms < cutoff]:
        del ts[tid]
    if len(ts) > MAX_TRACKED:
        for tid, _ in sorted(ts.items(), key=lambda kv: (kv[1], kv[0]))[: len(ts) - MAX_TRACKED]:
            del ts[tid]


@by_day
def figures(state, day: int, config) -> tuple[int, int, dict[str, int]]:
    """(opened, reopened, {category: opened+reopened}) in the ticket window."""
    opened = reopened = 0
    cats: dict[str, int] = {}
    for _, b in window(state.tickets, day, config.windows.tickets):
        opened, reopened = opened + b[0], reopened + b[2]
        for c, n in b[3].items():
            cats[c] = cats.get(c, 0) + n
    return opened, reopened, cats


@by_day
def bursts(state, day: int, config) -> dict[str, int]:
    """{category: opened+reopened at a counted priority} within the recurring-issue window ending at day."""
    rule = config.alerts.recurring_issue
    counted = set(rule.priorities)
    cats: dict[str, int] = {}
    for _, b in window(state.tickets, day, rule.window_days):
        if len(b) > 4 and counted:
            for c, by_prio in b[4].items():
                n = sum(k for p, k in by_prio.items() if p in counted)
                if n:
                    cats[c] = cats.get(c, 0) + n
        else:
            for c, n in b[3].items():
                cats[c] = cats.get(c, 0) + n
    return cats


def recurring(cats: dict[str, int], config) -> dict[str, int]:
    k = config.alerts.recurring_issue.min_count
    return {c: n for c, n in sorted(cats.items()) if n >= k}


def read(state, as_of_ms: int, config) -> dict:
    opened, reopened, cats = figures(state, day_of(as_of_ms), config)
    return {
        "open_tickets": sum(1 for _, code in state.ticket_status.values() if code != 1),
        "tickets_opened": opened,
        "reopened_tickets": reopened,
        "tickets_by_category": dict(sorted(cats.items())),
        "recurring_issues": recurring(bursts(state, day_of(as_of_ms), config), config),
    }


def components(state, day: int, config) -> dict[str, Component]:
    """Support load as a ticket rate: (support_half_load + load) / (window + observed days), i.e. the
    window's load shrunk toward support_half_load tickets per window, the rate that reads the prior.
    A customer seen for a while without tickets reads above the prior, and each ticket lowers it: a
    ticket never raises the score. Observed days count from the customer's first event."""
    if state.first_day is None or state.first_day > day:
        return {"support": unknown("no events yet")}
    opened, reopened, _ = figures(state, day, config)
    rec = recurring(bursts(state, day, config), config)
    c = config.components
    load = opened + reopened + c.reopen_weight * reopened + c.recurring_weight * len(rec)
    w = config.windows.tickets
    p = config.priors.support
    base = c.support_half_load / w

    def at(k: int) -> float:
        observed = min(w, day + k - state.first_day)
        return relative(base, (c.support_half_load + load) / (w + observed), p)

    last = max((d for d, b in window(state.tickets, day, w) if b[0] or b[2]), default=None)
    if opened + reopened:
        note = ("{} tickets in {} days, {} reopened{}", (opened + reopened, w, reopened,
                                                        f", recurring {', '.join(rec)}" if rec else ""))
    else:
        note = ("no tickets in {} days", (min(w, day - state.first_day),))
    return {"support": Component(at(0), {"tickets": opened + reopened, "reopened": reopened, "recurring": rec}, note,
                                 ("at", at), evidence=1.0 + opened + reopened, latest=last,
                                 drift_note=("no new ticket for {} days", (day - last,)) if last is not None else None)}


def change_sources(state, config) -> list[tuple]:
    first = [] if state.first_ticket_ms is None else [day_of(state.first_ticket_ms)]
    w = config.windows.tickets
    return [(state.tickets, (0, w, config.alerts.recurring_issue.window_days)), (first, (0, w))]
