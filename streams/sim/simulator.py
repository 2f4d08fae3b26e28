"""Seeded generator of realistic cshealth event streams.

Pure Python (standard library + orjson), no Kafka, no wall clock: the period
is ``[cfg.start, cfg.start + cfg.days)`` and every timestamp is derived from
it and from the seed, so the same config gives byte-identical output.

Each customer gets a *story* (healthy, noisy_healthy, champion, sour,
quiet_churner, stalled_onboarding) that shapes its background activity
(interactions, tickets, mentions, repeat purchases, survey answers) and adds
scripted events (the turn of a sour customer, cancellations, referrals,
expansions).  ``Simulation.truth()`` returns the ground truth per customer so
that health scores and alerts can be checked against it.

Customers are planned first (``profiles``); events are then generated window by
window (``WINDOW_DAYS``, ``events``): all customers' events triggered inside a
window are generated, sorted and emitted; follow-ups that fall later (a ticket closed next week) wait in a small pending list.  Memory is
bounded by one window of events, not by the whole run.

Event order: ``occurred_at`` (the instant), then ``event_id``; ids are
``e-<tag>-<seq>`` with ``seq`` increasing in emission order and ``tag`` a hash
of the config, so two runs with different configs never share an event id
(which the consumers use to drop duplicates).
"""
from __future__ import annotations

import bisect
import gc
import random
from typing import Iterator

from streams.sim.config import SimulationConfig, config_tag
from streams.sim.distributions import FastRandom
from streams.sim.events import SEQ_BITS, WindowGenerator
from streams.sim.profiles import Planner
from streams.sim.times import DAY, HH_MM, SS, date_prefix
from streams.sim.truth import Truth, truth_rows

WINDOW_DAYS = 28
EMPLOYEES_ID = "employees"


class Simulation:
    """A configured run: ``events()`` streams the events, ``truth()`` the plan."""

    def __init__(self, cfg: SimulationConfig) -> None:
        self.config = cfg
        self.start = int(cfg.start.timestamp())
        self.end = self.start + cfg.days * DAY
        self.tag = config_tag(cfg)
        width = max(6, len(str(cfg.customers)))
        self._cid_fmt = f"c{{:0{width}d}}"
        prng = FastRandom(f"profiles:{cfg.seed}")
        planner = Planner(cfg, self.start, self.end, self._cid_fmt)
        self.profiles = planner.profiles(prng)
        self.nps_waves = planner.waves(prng, first=(3, 20))
        self.enps_waves = planner.waves(prng, first=(8, 40))
        self.employees = cfg.employees if cfg.employees is not None else min(300, max(8, cfg.customers // 200))

    def truth(self) -> list[Truth]:
        return truth_rows(self.profiles, self.end)

    def __iter__(self) -> Iterator[dict]:
        return self.events()

    def events(self) -> Iterator[dict]:
        """All events in (occurred_at, event_id) order, generated window by window."""
        cfg = self.config
        gen = WindowGenerator(self, FastRandom(f"events:{cfg.seed}"))
        emit_rnd = random.Random(f"emit:{cfg.seed}").random
        epoch_share, end, tag = cfg.epoch_ms_share, self.end, self.tag
        # (customer_id, offset seconds, offset text) per customer index; -1 = employees
        meta = [(p.cid, p.off * 60, p.offstr) for p in self.profiles] + [(EMPLOYEES_ID, 0, "+00:00")]
        minutes: dict[int, str] = {}  # local minute -> "YYYY-MM-DDTHH:MM:", cleared per window
        hm, ss = HH_MM, SS
        prefix = f"e-{tag}-"
        seq = 0
        pending: list[tuple] = []
        ws = self.start
        while ws < end:
            we = min(end, ws + WINDOW_DAYS * DAY)
            batch = pending
            gc_was_enabled = gc.isenabled()
            gc.disable()  # millions of acyclic tuples: the cyclic GC would only slow this down
            try:
                gen.window(ws, we, batch)
                batch.sort()
            finally:
                if gc_was_enabled:
                    gc.enable()
            cut = bisect.bisect_left(batch, (we << SEQ_BITS,))
            pending = batch[cut:] if we < end else []
            ready = batch[:cut]
            del batch
            minutes.clear()
            for key, cidx, topic, fields in ready:
                ts = key >> SEQ_BITS
                seq += 1
                cid, off, offstr = meta[cidx]
                if emit_rnd() < epoch_share:
                    occurred = ts * 1000
                else:  # inline ISO formatting, the hottest path of the simulator
                    minute_no, sec = divmod(ts + off, 60)
                    minute = minutes.get(minute_no)
                    if minute is None:
                        day, minute_of_day = divmod(minute_no, 1440)
                        minute = minutes[minute_no] = date_prefix(day) + hm[minute_of_day]
                    occurred = minute + ss[sec] + offstr
                yield {
                    "topic": topic,
                    "event_id": f"{prefix}{seq:09d}",
                    "customer_id": cid,
                    "occurred_at": occurred,
                    **fields,
                }
            del ready
            ws = we


def simulate(cfg: SimulationConfig) -> Simulation:
    return Simulation(cfg)
