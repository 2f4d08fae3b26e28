"""Account profile, activation, cancellation and silence.

Profile: each field is last-writer-wins by (occurred_at_ms, event-id hash), so
account upserts in any order give the same profile; an explicit null clears a
field (e.g. a withdrawn cancellation).
Silence: days since the last sign of life on the customer's side: a purchase,
a ticket opened/reopened, a customer survey answer, an inbound interaction or
an outbound call/meeting (two-way by nature; unanswered emails are not life).
The silence threshold is max(alerts.silence.min_days, gap_multiplier x mean gap
between active days in the activity baseline before the last active day) once
min_gaps gaps exist; with fewer gaps (at least one) the multiple is larger, for the
same chance of a page in an ordinary gap (gap_multiple), and with one active day
min_days; never more than the activity baseline. A customer who signed up but is not
activated yet gets at most alerts.silence.onboarding_days (two quiet weeks in
onboarding is the stalled-onboarding signal). Active days are close to a Poisson
process, so a silence of k mean gaps happens by chance with probability ~e^-k per
gap: k x median (median = 0.69 x mean) with k = 3 was crossed by 1 gap in 8.
Bucket (activity): day -> number of active events.

Components: lifecycle (cancelled 0; activated rises from the prior toward 100 with tenure,
tenure_half_days to halfway; signed up and waiting falls from the prior, to half of it after
activation_target_days) and silence, the activity rhythm: a BG/NBD reading (activity.* parameters)
of the active days in the activity window, i.e. expected active days in the next
activity.horizon_days against a customer with no history yet (which reads the prior). It falls
continuously as a silence grows long for the customer's own rhythm, and ranks busier customers higher.
"""
from __future__ import annotations

import math

from handlers.events import Account, Interaction, Purchase, Survey, Ticket
from handlers.metrics import bgnbd
from handlers.score import Component, relative, unknown
from handlers.state import by_day
from handlers.timeutil import DAY_MS, day_of, iso

PROFILE_FIELDS = ("segment", "plan", "owner", "signed_up_at", "activated_at", "cancelled_at")

CONSTANT = False


def is_activity(event) -> bool:
    if isinstance(event, (Purchase, Survey)):
        return True
    if isinstance(event, Ticket):
        return event.status != "closed"
    if isinstance(event, Interaction):
        return event.direction == "inbound" or event.channel in ("call", "meeting")
    return False


def fold(state, event, config, tiebreak: int = 0) -> None:
    if isinstance(event, Account):
        key = [event.occurred_at_ms, tiebreak]
        for name in PROFILE_FIELDS:
            if name in event.model_fields_set:
                prev = state.profile.get(name)
                if prev is None or key > prev[1:]:
                    state.profile[name] = [getattr(event, name), *key]
    elif is_activity(event):
        day = day_of(event.occurred_at_ms)
        state.activity[day] = state.activity.get(day, 0) + 1


def prune(state, keep_after: int, cursor: int, config) -> None:
    """Forget active days no tick after the cursor reads: those past the horizon, unless they lie in
    the baseline before the last active day (the silence rule reads the rhythm there, however long
    the silence since; a later tick's last active day is never older)."""
    if not state.activity:
        return
    last = max((d for d in state.activity if d <= cursor), default=None)
    if last is not None:
        keep_after = min(keep_after, last - config.windows.activity_baseline)
    if min(state.activity) > keep_after:
        return
    dropped = [d for d in state.activity if d <= keep_after]
    if dropped:
        state.activity_floor = max([*dropped, state.activity_floor or dropped[0]])
        for d in dropped:
            del state.activity[d]


def lifecycle_days(state) -> list[int]:
    """Days of the profile timestamps (activation, cancellation, ...)."""
    return [day_of(v[0]) for v in state.profile.values() if isinstance(v[0], int) and not isinstance(v[0], bool)]


def field(state, name: str):
    v = state.profile.get(name)
    return None if v is None else v[0]


def _at_or_before(state, name: str, day: int) -> int | None:
    ms = field(state, name)
    return ms if ms is not None and day_of(ms) <= day else None


@by_day
def silence(state, day: int, config) -> tuple[int | None, float]:
    """(days since last activity at or before day, threshold in days)."""
    past = [d for d in state.activity if d <= day]  # one scan for the latest day and the baseline days
    last = max(past) if past else state.activity_floor
    rule = config.alerts.silence
    # The rhythm is read in the baseline window up to the last active day, not up to `day`: a
    # silence growing into the window would otherwise push the rhythm's days out of it and drop
    # the threshold to min_days in the middle of an ordinary gap.
    lo = (day if last is None else last) - config.windows.activity_baseline
    threshold = float(rule.min_days)
    days = sorted(d for d in past if d > lo)
    if len(days) > 1:  # mean gap between the first and last active day of the baseline
        gaps = len(days) - 1
        rhythm_limit = gap_multiple(gaps, rule) * (days[-1] - days[0]) / gaps
        # Capped by the baseline: the rhythm is read there, so it never excuses a silence as long as the window.
        threshold = max(threshold, min(rhythm_limit, float(config.windows.activity_baseline)))
    if _at_or_before(state, "signed_up_at", day) is not None and _at_or_before(state, "activated_at", day) is None:
        threshold = min(threshold, float(rule.onboarding_days))
    return (None if last is None else day - last), threshold


def gap_multiple(gaps: int, rule) -> float:
    """How many mean gaps of silence page a customer whose rhythm rests on `gaps` gaps.

    From min_gaps gaps on, gap_multiplier. A mean of fewer gaps is a rougher guess of the
    customer's rhythm, so the same multiple would page more often by chance: with gaps close
    to exponential, a next gap exceeds c x the mean of g gaps with chance (1 + c / g) ** -g
    (1 gap: 1 in 5 at c = 4; a sparse buyer paged at min_days 28 was paged in most of its
    gaps). Fewer gaps take the multiple with the same chance as gap_multiplier at min_gaps."""
    k, m = rule.gap_multiplier, rule.min_gaps
    if gaps >= m:
        return k
    return gaps * ((1.0 + k / m) ** (m / gaps) - 1.0)


def read(state, as_of_ms: int, config) -> dict:
    day = day_of(as_of_ms)
    signed, activated = field(state, "signed_up_at"), _at_or_before(state, "activated_at", day)
    quiet, threshold = silence(state, day, config)
    return {
        "segment": field(state, "segment"),
        "plan": field(state, "plan"),
        "owner": field(state, "owner"),
        "signed_up_at": iso(signed),
        "activated": activated is not None,
        "activated_at": iso(activated),
        "time_to_activation_days": (round((activated - signed) / DAY_MS, 2)
                                    if activated is not None and signed is not None else None),
        "cancelled": _at_or_before(state, "cancelled_at", day) is not None,
        "cancelled_at": iso(field(state, "cancelled_at")),
        "silence_days": quiet,
        "silence_threshold_days": round(threshold, 1),
    }


def components(state, day: int, config) -> dict[str, Component]:
    return {"lifecycle": _lifecycle(state, day, config), "silence": _activity(state, day, config)}


def _lifecycle(state, day: int, config) -> Component:
    cancelled = _at_or_before(state, "cancelled_at", day)
    signed = _at_or_before(state, "signed_up_at", day)
    activated = _at_or_before(state, "activated_at", day)
    c, p = config.components, config.priors.lifecycle
    if cancelled is not None:
        return Component(0.0, {"cancelled_at": iso(cancelled)}, "cancelled", evidence=math.inf)
    if activated is not None:
        since = day - day_of(activated)
        half = c.tenure_half_days

        def tenure(k: int) -> float:
            d = max(0, since + k)
            return p + (100.0 - p) * d / (d + half)

        return Component(tenure(0), {"activated": True, "days_active": since},
                         ("activated {} days ago", (since,)), ("at", tenure), evidence=1.0)
    if signed is not None:
        target = c.activation_target_days
        waited = day - day_of(signed)

        def waiting(k: int) -> float:
            return p * target / (target + max(0, waited + k))

        return Component(waiting(0), {"activated": False, "days_waiting": waited},
                         ("not activated after {} days", (waited,)), ("at", waiting), evidence=1.0)
    return unknown("no account lifecycle data")


def rhythm(state, day: int, config) -> tuple[int, int, int] | None:
    """(repeat active days x, first, last active day) within the activity window ending at day; an
    older activity (pruned) counts as a single day. None when nothing was ever active."""
    lo = day - config.windows.activity_baseline
    days = [d for d in state.activity if lo < d <= day]
    if not days:
        floor = state.activity_floor
        past = [d for d in state.activity if d <= lo]
        old = max(past) if past else floor
        return None if old is None or old > day else (0, old, old)
    return len(days) - 1, min(days), max(days)


def _activity(state, day: int, config) -> Component:
    h = rhythm(state, day, config)
    if h is None:
        return unknown("no activity yet")
    x, first, last = h
    m, p = config.activity, config.priors.silence
    params, horizon = m.params, m.horizon_days
    base = bgnbd.expected_new(horizon, params)

    def at(k: int) -> float:
        return relative(bgnbd.expected(horizon, x, float(last - first), float(day + k - first), params), base, p)

    quiet = day - last
    usual = (last - first) / x if x else None
    quiet_n, threshold = silence(state, day, config)
    value = {"silence_days": quiet_n, "threshold_days": threshold, "active_days": x + 1}
    if usual is None:
        note = ("{} days quiet, one active day so far", (quiet,))
    else:
        note = ("{} days quiet, usually active every {:.1f} days", (quiet, usual))
    return Component(at(0), value, note, ("at", at), evidence=x + 1.0, latest=last,
                     drift_note=("quiet for {} days (usually active every {})",
                                 (quiet, "?" if usual is None else f"{usual:.1f} days")))


def change_sources(state, config) -> list[tuple]:
    return [(state.activity, (0, config.windows.activity_baseline)), (lifecycle_days(state), (0,))]
