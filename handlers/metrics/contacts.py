"""Contact frequency both ways against the customer's own trailing baseline.

Inbound = tickets opened + inbound interactions; outbound = outbound interactions.
Bucket: day -> [inbound, outbound]. The baseline is the `contact_baseline` days
before the current window, scaled to a per-window rate. Too quiet and too loud
are both signals: the component penalises |log2((current+1)/(baseline+1))|.
"""
from __future__ import annotations

import math

from handlers.buckets import window
from handlers.events import Interaction, Ticket
from handlers.score import Component, unknown
from handlers.state import by_day
from handlers.timeutil import day_of

CONSTANT = True


def fold(state, event, config) -> None:
    if isinstance(event, Interaction):
        idx = 0 if event.direction == "inbound" else 1
    elif isinstance(event, Ticket) and event.status == "opened":
        idx = 0
    else:
        return
    day = day_of(event.occurred_at_ms)
    b = state.contacts.get(day)
    if b is None:
        b = state.contacts[day] = [0, 0]
    b[idx] += 1


@by_day
def figures(state, day: int, config) -> tuple[int, int, float]:
    """(inbound, outbound) in the window and the baseline total per window."""
    w = config.windows
    inbound = outbound = base = 0
    for _, b in window(state.contacts, day, w.contacts):
        inbound, outbound = inbound + b[0], outbound + b[1]
    for _, b in window(state.contacts, day, w.contact_baseline, skip=w.contacts):
        base += b[0] + b[1]
    return inbound, outbound, base * w.contacts / w.contact_baseline


def read(state, as_of_ms: int, config) -> dict:
    inbound, outbound, base = figures(state, day_of(as_of_ms), config)
    total = inbound + outbound
    return {
        "contacts_inbound": inbound,
        "contacts_outbound": outbound,
        "contact_ratio": round(inbound / outbound, 3) if outbound else None,
        "contact_baseline": round(base, 2),
        # (current - baseline) / baseline: -1 = went dark, +2 = three times the usual.
        "contact_deviation": round((total - base) / base, 3) if base else None,
    }


def components(state, day: int, config) -> dict[str, Component]:
    inbound, outbound, base = figures(state, day, config)
    if not base:
        return {"engagement": unknown("no contact baseline yet", contacts=inbound + outbound)}
    total = inbound + outbound
    r = math.log2((total + 1) / (base + 1))
    # The usual level reads 100; each way off it lower, smoothly (r = +-scale reads 50).
    score = 100.0 / (1.0 + (r / config.components.contact_log2_scale) ** 2)
    word = "quieter" if r < 0 else "louder"
    base_n = base * config.windows.contact_baseline / config.windows.contacts
    return {"engagement": Component(score, {"contacts": total, "baseline": base, "log2_ratio": r},
                                    ("{} contacts vs usual {:.1f} ({})", (total, base, word)), evidence=base_n)}


def change_sources(state, config) -> list[tuple]:
    w = config.windows
    return [(state.contacts, (0, w.contacts, w.contacts + w.contact_baseline))]
