"""The per-customer API used by streams/: apply, derived_events, advance, snapshot.

- apply(state, event, config) folds one event (False for a duplicate event_id).
- advance(state, watermark_ms, config) closes the daily ticks whose end plus
  allowed lateness the watermark has passed, catching up all due days at once;
  each health change it returns carries change_id(customer, day, config version).
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
from handlers.timeutil import DAY_MS, day_of, end_of_day, iso


# Duplicate memory. A customer remembers the ids of its events (by a 63-bit hash) ordered
# by (minute of event time, hash): always the newest time.dedupe_max_ids of them, plus every
# id within 2 x allowed lateness of its newest event, but never more than DEDUPE_CAP_IDS.
# An event whose id is remembered is a duplicate and changes nothing; the stream and the
# replay both decide through apply(), and the rule depends on the set of ids, not on their
# arrival order. The cap binds only for a customer with more than 32,768 events within
# twice the lateness (12 h by default): a social storm. Its id memory then stays under
# ~360 KiB (11 bytes an id) however many events come. An event re-sent after the cap
# forgot its id (more than 32,768 newer events of the same customer, by event time) counts
# again. Kafka's own redeliveries do not depend on this memory: the worker drops re-read
# records by their offsets (CustomerState.applied_offsets) before apply().
DEDUPE_CAP_IDS = 32_768


@dataclass
class Outputs:
    health_changes: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    uncounted_changes: int = 0  # health changes not built because advance(..., changes=False)
    quiet: tuple[int, int] | None = None  # advance(..., look_ahead=True): its mark for the next call

    def __bool__(self) -> bool:
        return bool(self.health_changes or self.alerts)


def id_hash(event_id: str) -> int:
    """63-bit stable hash of an event id: compact duplicate memory, and the profile tie-break."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big") >> 1


def apply(state: CustomerState, event: Event, config: HealthConfig) -> bool:
    """Fold one event; False (state untouched) when its event_id is remembered (see DEDUPE_CAP_IDS)."""
    h = id_hash(event.event_id)
    if h in state.seen:
        return False
    ms = event.occurred_at_ms
    state.max_ms = ms if state.max_ms is None else max(state.max_ms, ms)
    state.seen.add(h, ms)
    state.seen.forget(state.max_ms, 2 * config.time.lateness_ms, config.time.dedupe_max_ids, DEDUPE_CAP_IDS)
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
    if len(state.ticket_status) > tickets.MAX_TRACKED:
        _forget_ticket(state)
    return True


def _forget_ticket(state: CustomerState) -> None:
    """Hold the ticket map at tickets.MAX_TRACKED between ticks too, as tickets.prune does
    at each tick (same order: oldest (time, status code), then ticket id). Otherwise a
    storm of new tickets within one day would grow the state by every ticket until its
    day closes. One out per ticket in: the kept set is the newest MAX_TRACKED tickets
    whatever the arrival order, as in the replay."""
    ts = state.ticket_status
    del ts[min(ts, key=lambda tid: (ts[tid], tid))]


def change_id(customer_id: str, day: int, config_version: str) -> str:
    """Id of a customer's health change on a UTC day under a config version: a consumer of
    cs.health-changes dedupes on it (a re-sent change carries the same id, in the stream
    and in the replay); blake2b-96 of customer_id, the ISO date and the version, hex."""
    raw = f"{customer_id}\x1f{iso(end_of_day(day))[:10]}\x1f{config_version}".encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


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


def advance(state: CustomerState, watermark_ms: int, config: HealthConfig, changes: bool = True,
            quiet: tuple[int, int] | None = None, look_ahead: bool = False) -> Outputs:
    """Close every due daily tick not yet evaluated; idempotent for a repeated watermark.

    changes=False skips building the health-change records (the state evolves the same;
    only their number is reported in Outputs.uncounted_changes): replay does not need them.

    quiet: a mark (day, through) an earlier call returned in Outputs.quiet for this state, valid
    while no event was folded into it since: the ticks after `day` up to `through` change nothing,
    so a call whose due ticks all lie there only moves the cursor. look_ahead=True returns such a
    mark (the caller keeps it beside the state and drops it when it folds an event)."""
    out = Outputs()
    if state.first_day is None:
        return out
    due = due_day(watermark_ms, config)
    if state.cursor is None:
        # Never past what the watermark closed: in a stream a customer's first event to
        # arrive need not be its earliest (another topic may still bring older ones).
        state.cursor = min(state.first_day - 1, due)
    if quiet is not None and state.cursor < quiet[0]:
        quiet = None  # made for a day this state has not reached: it says nothing yet
    if quiet is not None and due <= quiet[1]:  # every due tick is a quiet one
        out.quiet = quiet
        if due > state.cursor:
            state.cursor = due
            _prune(state, config)
        return out
    if due <= state.cursor:
        out.quiet = quiet
        return out
    day = max(state.cursor + 1, state.first_day)  # no ticks before the customer's first event
    if quiet is not None:
        day = max(day, quiet[1] + 1)
    # A live stream mostly closes one day at a time: nothing to skip, so no plan to build.
    plan = ticks.Plan(state, config) if due > day else None
    built = out.health_changes
    while day <= due:
        before = len(built)
        score, comps, half = ticks.tick(state, day, config, built if changes else None, out.alerts, plan)
        if len(built) > before:  # at most one change a day: stamp its id, first among its keys
            built[-1] = {"change_id": change_id(state.customer_id, day, config.version), **built[-1]}
        if not changes and state.last_emit is not None and state.last_emit[0] == day:
            out.uncounted_changes += 1
        through = due if plan is None else ticks.quiet_until(state, day, score, comps, plan, due, config, half)
        if through >= due and look_ahead:  # the last tick: how far past due its quiet stretch goes
            ahead = ticks.quiet_ahead(state, day, score, comps, plan or ticks.Plan(state, config), due, config, half)
            if ahead > due:
                out.quiet = (day, ahead)
        day = through + 1
    state.cursor = due
    _prune(state, config)
    return out


def _prune(state: CustomerState, config: HealthConfig) -> None:
    """Forget what no window ending at or after the cursor can read: bounded memory."""
    keep_after = state.cursor - config.horizon_days()
    for name in BUCKETS:
        if name != "activity":
            prune_buckets(getattr(state, name), keep_after)
    lifecycle.prune(state, keep_after, state.cursor, config)
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
