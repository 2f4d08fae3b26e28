"""Who the customers are: each one's story, segment, plan, owner, time zone and activity rate,
and the scripted milestones of its story (signup, activation, the turn, the cancellation,
contract changes, referrals), planned before any event is generated."""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone

from streams.sim.config import STORIES, SimulationConfig, allocate_stories
from streams.sim.distributions import (
    BUSINESS_HOURS, EVENTS_PER_TRIGGER, FIXED_PER_MONTH, MIX, OFFSET_STR, OFFSETS, OWNERS, P_OFFSET, P_PLAN,
    P_SEGMENT, SEGMENT_RATE, SOCIAL_HOURS, STORY_RATE, cum, hour_table,
)
from streams.sim.times import DAY, HOUR


class Profile:
    __slots__ = (
        "idx", "cid", "story", "segment", "plan", "billing", "owner", "cv", "signup", "activated",
        "newcomer", "turns", "cancel", "silent_from", "purchase_stop", "off", "offstr", "rate",
        "mix", "hours_biz", "hours_soc", "changes", "referred_by", "anchor", "outburst", "marks",
    )


class Planner:
    """Plans a run's customers and survey waves over ``[start, end)``."""

    def __init__(self, cfg: SimulationConfig, start: int, end: int, cid_fmt: str) -> None:
        self.config, self.start, self.end, self.cid_fmt = cfg, start, end, cid_fmt

    def waves(self, rng: random.Random, first: tuple[int, int]) -> list[int]:
        lo, hi = first
        hi = max(lo, min(hi, self.config.days // 2))
        waves, t = [], self.start + rng.randint(lo, hi) * DAY
        while t < self.end:
            waves.append(t - t % DAY + 9 * HOUR)  # a wave goes out at 09:00 UTC
            t += rng.randint(84, 98) * DAY
        return waves

    def business_time(self, rng: random.Random, ts: int, off: int) -> int:
        """Move ``ts`` to a weekday working hour (local time) of the same week."""
        local = ts + off * 60
        day = local - local % DAY
        weekday = (day // DAY + 3) % 7  # 1970-01-01 was a Thursday
        if weekday >= 5:
            day += (7 - weekday) * DAY
        return day + rng.randint(9 * HOUR, 17 * HOUR) - off * 60

    def turn_time(self, rng: random.Random, delay_days: int, off: int) -> int:
        """A working hour in the middle third, leaving room for the cancellation if possible."""
        d = self.config.days
        lo, hi = d / 3, 2 * d / 3
        if min(hi, d - delay_days - 3) >= lo:
            hi = min(hi, d - delay_days - 3)
        t = self.start + int(rng.uniform(lo, hi) * DAY)
        snapped = self.business_time(rng, t, off)
        return snapped if self.start + lo * DAY <= snapped <= self.start + hi * DAY else t

    def profiles(self, rng: random.Random) -> list[Profile]:
        cfg, rnd = self.config, rng.random
        counts = allocate_stories(cfg.customers, cfg.shares())
        stories = [s for s in STORIES for _ in range(counts[s])]
        rng.shuffle(stories)
        healthy = [i for i, s in enumerate(stories) if s == "healthy"]
        champions = [i for i, s in enumerate(stories) if s == "champion"]
        n_new = min(len(healthy), max(round(cfg.new_customer_share * len(healthy)), 2 * len(champions)))
        newcomers = set(rng.sample(healthy, n_new)) if cfg.days > 2 else set()
        referrer: dict[int, str] = {}
        pool = sorted(newcomers)
        rng.shuffle(pool)
        extra = [rng.randint(0, 2) for _ in champions]
        for round_ in range(3):  # one referral per champion first, then up to two more each
            for c, more in zip(champions, extra):
                if pool and (round_ == 0 or more >= round_):
                    referrer[pool.pop()] = self.cid_fmt.format(c + 1)

        base_rate = max(0.0, cfg.events_per_customer_per_month - FIXED_PER_MONTH) / EVENTS_PER_TRIGGER / 30.44
        span = self.end - self.start
        hour_tables = {o: (hour_table(BUSINESS_HOURS, o), hour_table(SOCIAL_HOURS, o)) for o, _ in OFFSETS}
        mixes = {story: cum(mix) for story, mix in MIX.items()}
        profiles = []
        for i, story in enumerate(stories):
            p = Profile()
            p.idx, p.cid, p.story = i, self.cid_fmt.format(i + 1), story
            p.segment = P_SEGMENT.get(story, P_SEGMENT["default"])(rnd)
            p.plan, p.billing, _, lo, hi = P_PLAN[p.segment](rnd)
            p.cv = round(math.exp(rng.uniform(math.log(lo), math.log(hi))), -1)
            p.owner = rng.choice(OWNERS[p.segment])
            p.off = P_OFFSET(rnd)
            p.offstr = OFFSET_STR[p.off]
            p.hours_biz, p.hours_soc = hour_tables[p.off]
            p.rate = base_rate * SEGMENT_RATE[p.segment] * STORY_RATE[story]
            p.mix = mixes[story]
            p.referred_by = referrer.get(i)
            p.turns = p.cancel = None
            # noisy customers vent strongly at most once: mixed, never sustained, negativity
            p.outburst = self.start + int(rnd() * span) if story == "noisy_healthy" and rnd() < 0.5 else None
            p.silent_from = p.purchase_stop = self.end
            p.newcomer = i in newcomers or story == "stalled_onboarding"
            if story == "stalled_onboarding":
                p.turns = self.turn_time(rng, 0, p.off)
                p.signup = p.turns - 14 * DAY
                p.activated = None
                p.silent_from = p.purchase_stop = p.turns
            else:
                if p.newcomer:
                    p.signup = self.business_time(rng, self.start + DAY + int(rnd() * max(DAY, span - 8 * DAY)), p.off)
                    p.activated = p.signup + rng.randint(1 * DAY, 10 * DAY)
                else:
                    p.signup = self.start - rng.randint(30 * DAY, 1500 * DAY) - rng.randint(0, DAY)
                    p.activated = p.signup + rng.randint(1 * DAY, (45 if p.segment == "enterprise" else 20) * DAY)
            if story == "sour":
                delay = rng.randint(22, 39)  # 3-6 weeks once moved to a working day
                p.turns = self.turn_time(rng, delay, p.off)
                p.cancel = self.business_time(rng, p.turns + delay * DAY, p.off)
                p.silent_from, p.purchase_stop = p.turns + 14 * DAY, p.turns
            elif story == "quiet_churner":
                delay = rng.randint(29, 53)  # 4-8 weeks once moved to a working day
                p.turns = self.turn_time(rng, delay, p.off)
                p.cancel = self.business_time(rng, p.turns + delay * DAY, p.off)
                p.silent_from = p.purchase_stop = p.turns
            # scripted contract changes: (ts, kind, fraction)
            changes = []
            period_years = cfg.days / 365
            if story == "champion":
                for _ in range(rng.randint(1, 2)):
                    changes.append((self.start + int(rng.uniform(0.1, 0.9) * span), "expansion", rng.uniform(0.1, 0.4)))
            elif story in ("healthy", "noisy_healthy") and rnd() < min(0.5, 0.3 * period_years):
                changes.append((self.start + int(rng.uniform(0.05, 0.95) * span), "expansion", rng.uniform(0.05, 0.3)))
            elif story == "healthy" and rnd() < min(0.2, 0.08 * period_years):
                changes.append((self.start + int(rng.uniform(0.05, 0.95) * span), "contraction", rng.uniform(0.05, 0.15)))
            if story == "sour" and rnd() < 0.6:
                changes.append((p.turns + rng.randint(2 * DAY, 10 * DAY), "contraction", rng.uniform(0.2, 0.5)))
            p.changes = sorted((max(t, p.signup + DAY), k, f) for t, k, f in changes)
            # milestones in time order: (ts, mark, argument), handled by the window containing ts
            marks = [(self.start, "account", False)] if p.signup < self.start else []
            if p.newcomer:
                marks.append((max(p.signup, self.start), "onboarding", None))
            if p.activated is not None and self.start < p.activated:  # activation: profile update
                marks.append((p.activated, "account", False))
            if story == "sour":
                marks.append((p.turns, "sour_turn", None))
            if p.cancel is not None:
                marks.append((p.cancel, "account", True))
            if p.outburst is not None and p.outburst >= p.signup:
                marks.append((p.outburst, "outburst", None))
            marks.extend((t, k, f) for t, k, f in p.changes if self.start <= t < p.silent_from)
            marks.sort(key=lambda m: m[0])
            p.marks = tuple(marks)
            sd = datetime.fromtimestamp(p.signup, timezone.utc)
            p.anchor = (sd.year, sd.month, min(sd.day, 28), p.signup % DAY)
            profiles.append(p)
        return profiles
