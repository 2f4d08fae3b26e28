"""Replay a file of JSON lines (each carrying "topic") into snapshots, alerts, health changes and a summary.

Events are folded in event-time order (sorted by occurred_at, event_id, kind and
a checksum of the line), with the watermark at the current event time, so the
result is a function of the set of lines, not their order. Lines after as_of
are left out (counted as after_as_of). Given now_ms (the clock the replay stands
for), lines dated more than max_skew_ms after it are refused as future_event, as
the worker refuses them against its clock.
"""
from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from handlers.config import HealthConfig
from handlers.customer import advance, apply, derived_events, snapshot
from handlers.events import MAX_CLOCK_SKEW_MS, DecodeError, decode, is_employee_survey
from handlers.metrics import nps, satisfaction
from handlers.metrics.enps import CompanyEnps
from handlers.state import CustomerState
from handlers.timeutil import day_of, iso


@dataclass
class ReplayResult:
    snapshots: list[dict]
    alerts: list[dict]
    summary: dict
    health_changes: int = 0  # how many (also when with_changes=False did not build them)
    states: dict = field(default_factory=dict, repr=False)
    changes: list[dict] = field(default_factory=list)  # the cs.health-changes records, by (occurred_at, customer_id)


def replay(lines: Iterable[bytes], config: HealthConfig, as_of_ms: int | None = None, now_ms: int | None = None,
           max_skew_ms: int = MAX_CLOCK_SKEW_MS, with_changes: bool = True) -> ReplayResult:
    """Fold the lines as the worker would. now_ms None: no clock check. with_changes=False
    only counts the health changes (faster: their explanations are not built)."""
    bad: Counter = Counter()
    keyed = []
    n_lines = 0
    for raw in lines:
        raw = raw.strip()
        if not raw:
            continue
        n_lines += 1
        ev = decode(raw, now_ms=now_ms, max_skew_ms=max_skew_ms)
        if isinstance(ev, DecodeError):
            bad[ev.reason] += 1
            continue
        keyed.append((ev.occurred_at_ms, ev.event_id, ev.kind, zlib.crc32(raw), ev))
    keyed.sort(key=lambda k: k[:4])
    if as_of_ms is None:
        as_of_ms = keyed[-1][0] if keyed else None
    states: dict[str, CustomerState] = {}
    enps = CompanyEnps()
    employee_ids: set[str] = set()
    alerts: list[dict] = []
    changes: list[dict] = []
    count = Counter()

    def collect(out) -> None:
        alerts.extend(out.alerts)
        changes.extend(out.health_changes)
        count["health_changes"] += len(out.health_changes) + out.uncounted_changes

    def fold(ev) -> bool:
        st = states.get(ev.customer_id)
        if st is None:
            st = states[ev.customer_id] = CustomerState.new(ev.customer_id)
        collect(advance(st, ev.occurred_at_ms, config, changes=with_changes))
        if not apply(st, ev, config):
            count["duplicates"] += 1
            return False
        return True

    for i, (ms, _, _, _, ev) in enumerate(keyed):
        keyed[i] = None  # let folded events go: peak memory is the decoded input, not input + states
        if as_of_ms is not None and ms > as_of_ms:
            count["after_as_of"] += 1
            continue
        if is_employee_survey(ev):
            # Company eNPS only: no customer state; deduplicated by event_id like everything else.
            if ev.event_id in employee_ids:
                count["duplicates"] += 1
            else:
                employee_ids.add(ev.event_id)
                enps.fold(ev)
                count["employee_surveys"] += 1
            continue
        if fold(ev):
            count["events"] += 1
            for derived in derived_events(ev):
                count["derived_events"] += fold(derived)
    snapshots = []
    for cid in sorted(states):
        st = states[cid]
        collect(advance(st, as_of_ms, config, changes=with_changes))
        snapshots.append(snapshot(st, as_of_ms, config))
    alerts.sort(key=lambda a: (a["occurred_at"], a["customer_id"], a["rule"], a["dedupe_key"], a["status"]))
    changes.sort(key=lambda c: (c["occurred_at"], c["customer_id"]))  # one change per customer and day
    summary = _summary(states, snapshots, alerts, enps, bad, count, n_lines, as_of_ms, config)
    return ReplayResult(snapshots, alerts, summary, count["health_changes"], states, changes)


def _summary(states, snapshots, alerts, enps, bad, count, n_lines, as_of_ms, config) -> dict:
    day = None if as_of_ms is None else day_of(as_of_ms)
    p = s = d = cn = top2 = en = esum = 0
    for st in states.values():
        cp, cs, cd, _ = nps.counts(st, day, config)
        c = satisfaction._sums(satisfaction.rows(st, day, config))
        p, s, d, cn, top2, en, esum = p + cp, s + cs, d + cd, cn + c[0], top2 + c[1], en + c[2], esum + c[3]
    n = p + s + d
    firing, resolved = Counter(), Counter()
    for a in alerts:
        (firing if a["status"] == "firing" else resolved)[a["rule"]] += 1
    value = nps.nps_value(p, d, n)
    return {
        "as_of": iso(as_of_ms),
        "config_version": config.version,
        "lines": n_lines,
        "events": count["events"],
        "derived_events": count["derived_events"],
        "employee_surveys": count["employee_surveys"],
        "customers": len(states),
        "bad_lines": {"count": sum(bad.values()), "reasons": dict(sorted(bad.items()))},
        "duplicates": count["duplicates"],
        "late": sum(st.late for st in states.values()),
        "after_as_of": count["after_as_of"],
        "health_changes": count["health_changes"],
        "bands": dict(sorted(Counter(str(sn["health"]["band"]) for sn in snapshots).items())),
        "company": {
            "nps": {"nps": None if value is None else round(value, 1), "responses": n, "promoters": p,
                    "passives": s, "detractors": d, "interval": nps.interval(p, d, n)},
            "csat": {"csat": round(100.0 * top2 / cn, 1) if cn else None, "responses": cn, "satisfied": top2},
            "ces": {"ces": round(esum / en, 2) if en else None, "responses": en},
            "enps": enps.read(),
        },
        "alerts": {"firing": dict(sorted(firing.items())), "resolved": dict(sorted(resolved.items()))},
    }
