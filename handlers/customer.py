"""The per-customer API used by streams/: apply, derived_events, advance, snapshot.

- apply(state, event, config) folds one event (False for a duplicate event_id).
- advance(state, watermark_ms, config) closes the daily ticks whose end plus
  allowed lateness the watermark has passed, catching up all due days at once.
- snapshot(state, as_of_ms, config) is the JSON-able per-customer read-out.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from handlers import alerts, ticks
from handlers.buckets import prune as prune_buckets
from handlers.config import HealthConfig
from handlers.events import DERIVED_KINDS, Event, Purchase, ReferralCredit, is_employee_survey
from handlers.metrics import FAMILIES, lifecycle, purchases, tickets
from handlers.score import combine, health_dict
from handlers.state import BUCKETS, CustomerState
from handlers.timeutil import DAY_MS, day_of, iso


@dataclass
class Outputs:
    health_changes: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    uncounted_changes: int = 0  # health changes not built because advance(..., changes=False)

    def __bool__(self) -> bool:
        return bool(self.health_changes or self.alerts)


def id_hash(event_id: str) -> int:
    """63-bit stable hash of an event id: compact duplicate memory, and the profile tie-break."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big") >> 1


def apply(state: CustomerState, event: Event, config: HealthConfig) -> bool:
    """Fold one event; False (state untouched) when its event_id was already applied."""
    h = id_hash(event.event_id)
    if h in state.seen:
        return False
    ms = event.occurred_at_ms
    state.seen[h] = ms
    state.max_ms = ms if state.max_ms is None else max(state.max_ms, ms)
    if len(state.seen) > config.time.dedupe_max_ids:
        _forget_ids(state, config)
    if is_employee_survey(event):
        return True  # eNPS is company-wide (handlers.metrics.enps); never a customer's figures
    state.events += 1
    day = day_of(ms)
    if state.cursor is not None and day <= state.cursor and event.kind not in DERIVED_KINDS:
        # Its day's tick is closed: counted in figures, not re-evaluated. Derived referral
        # credits make an extra trip through Kafka and feed no score or rule, so their
        # arrival time says nothing about the inputs' lateness.
        state.late += 1
    if state.first_day is None or day < state.first_day:
        state.first_day = day
    for family in FAMILIES:
        if family is lifecycle:
            family.fold(state, event, config, tiebreak=h)
        else:
            family.fold(state, event, config)
    return True


def _forget_ids(state: CustomerState, config: HealthConfig) -> None:
    """Keep the newest dedupe_max_ids ids, plus every id newer than 2 x allowed lateness."""
    keep_from = state.max_ms - 2 * config.time.lateness_ms
    ranked = sorted(state.seen.items(), key=lambda kv: (-kv[1], kv[0]))
    state.seen = {h: ms for i, (h, ms) in enumerate(ranked) if i < config.time.dedupe_max_ids or ms >= keep_from}


def derived_events(event: Event) -> list[Event]:
    """A purchase naming `referred_by` credits the referrer (re-keyed to the referrer)."""
    if isinstance(event, Purchase) and event.referred_by and event.referred_by != event.customer_id:
        return [ReferralCredit(event_id=f"{event.event_id}:referral", customer_id=event.referred_by,
                               occurred_at_ms=event.occurred_at_ms, referred_customer_id=event.customer_id,
                               source_event_id=event.event_id)]
    return []


def due_day(watermark_ms: int, config: HealthConfig) -> int:
    """Last day whose tick may close: its end + allowed lateness <= watermark."""
    return (watermark_ms - config.time.lateness_ms) // DAY_MS - 1


def advance(state: CustomerState, watermark_ms: int, config: HealthConfig, changes: bool = True) -> Outputs:
    """Close every due daily tick not yet evaluated; idempotent for a repeated watermark.

    changes=False skips building the health-change records (the state evolves the same;
    only their number is reported in Outputs.uncounted_changes): replay does not need them."""
    out = Outputs()
    if state.first_day is None:
        return out
    due = due_day(watermark_ms, config)
    if state.cursor is None:
        # Never past what the watermark closed: in a stream a customer's first event to
        # arrive need not be its earliest (another topic may still bring older ones).
        state.cursor = min(state.first_day - 1, due)
    if due <= state.cursor:
        return out
    day = max(state.cursor + 1, state.first_day)  # no ticks before the customer's first event
    # A live stream mostly closes one day at a time: nothing to skip, so no plan to build.
    plan = ticks.Plan(state, config) if due > day else None
    while day <= due:
        score, comps = ticks.tick(state, day, config, out.health_changes if changes else None, out.alerts, plan)
        if not changes and state.last_emit is not None and state.last_emit[0] == day:
            out.uncounted_changes += 1
        day = day + 1 if plan is None else ticks.quiet_until(state, day, score, comps, plan, due, config) + 1
    state.cursor = due
    _prune(state, config)
    return out


def _prune(state: CustomerState, config: HealthConfig) -> None:
    """Forget what no window ending at or after the cursor can read: bounded memory."""
    keep_after = state.cursor - config.horizon_days()
    for name in BUCKETS:
        if name != "activity":
            prune_buckets(getattr(state, name), keep_after)
    lifecycle.prune(state, keep_after)
    tickets.prune(state, state.cursor, config)
    purchases.prune(state, state.cursor, config)
    state.peaks = [p for p in state.peaks if p[0] > state.cursor - config.alerts.score_drop.window_days]
    alerts.prune(state, state.cursor, config)


def read_metrics(state: CustomerState, as_of_ms: int, config: HealthConfig) -> dict:
    metrics = {}
    for family in FAMILIES:
        metrics.update(family.read(state, as_of_ms, config))
    metrics["late_events"] = state.late
    metrics["events"] = state.events
    return metrics


def snapshot(state: CustomerState, as_of_ms: int, config: HealthConfig) -> dict:
    """Deterministic, JSON-able read-out: health as of as_of (band from the last closed tick)."""
    day = day_of(as_of_ms)
    with state.reading():  # the score and the metrics share their window figures
        comps = ticks.components(state, day, config)
        score, contrib = combine(comps, config)
        health = health_dict(comps, score, contrib, state.band, config)
        health["band_as_of"] = iso(None if state.cursor is None else (state.cursor + 1) * DAY_MS - 1)
        return {"customer_id": state.customer_id, "as_of": iso(as_of_ms), "health": health,
                "metrics": read_metrics(state, as_of_ms, config)}
