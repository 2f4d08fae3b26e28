"""Fold events through the handlers as the stream and `cshealth replay` do (event-time order, the
watermark at the current event), keeping what the replay does not: every health change, and each
customer's snapshot at a cut-off."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import orjson

from handlers.config import HealthConfig
from handlers.customer import advance, apply, derived_events, snapshot
from handlers.events import DecodeError, decode, is_employee_survey
from handlers import ticks
from handlers.score import combine
from handlers.state import CustomerState
from handlers.timeutil import day_of


@dataclass
class Folded:
    changes: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    at_cutoff: dict[str, dict] = field(default_factory=dict)  # customer -> snapshot at the cut-off
    states: dict[str, CustomerState] = field(default_factory=dict)


def fold(records: Iterable[dict], config: HealthConfig, cutoff_ms: int | None, end_ms: int) -> Folded:
    decoded = []
    for rec in records:
        ev = decode(orjson.dumps(rec))
        if isinstance(ev, DecodeError) or is_employee_survey(ev):
            continue
        decoded.append((ev.occurred_at_ms, ev.event_id, ev))
    decoded.sort(key=lambda k: k[:2])
    out = Folded()
    states = out.states

    def one(ev) -> None:
        st = states.get(ev.customer_id)
        if st is None:
            st = states[ev.customer_id] = CustomerState.new(ev.customer_id)
        o = advance(st, ev.occurred_at_ms, config)
        out.changes += o.health_changes
        out.alerts += o.alerts
        apply(st, ev, config)

    def take_cutoff() -> None:
        for cid, st in states.items():
            o = advance(st, cutoff_ms, config)
            out.changes += o.health_changes
            out.alerts += o.alerts
            out.at_cutoff[cid] = snap = snapshot(st, cutoff_ms, config)
            # the score before display rounding (0.1 points), for ranking
            comps = ticks.components(st, day_of(cutoff_ms), config)
            snap["health"]["exact_score"] = combine(comps, config)[0]

    pending_cutoff = cutoff_ms is not None
    for ms, _, ev in decoded:
        if pending_cutoff and ms > cutoff_ms:
            take_cutoff()
            pending_cutoff = False
        one(ev)
        for derived in derived_events(ev):
            one(derived)
    if pending_cutoff:
        take_cutoff()
    for st in states.values():
        o = advance(st, end_ms, config)
        out.changes += o.health_changes
        out.alerts += o.alerts
    return out
