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

Generation runs window by window (``WINDOW_DAYS``): all customers' events
triggered inside a window are generated, sorted and emitted; follow-ups that
fall later (a ticket closed next week) wait in a small pending list.  Memory is
bounded by one window of events, not by the whole run.

Event order: ``occurred_at`` (the instant), then ``event_id``; ids are
``e-<tag>-<seq>`` with ``seq`` increasing in emission order and ``tag`` a hash
of the config, so two runs with different configs never share an event id
(which the consumers use to drop duplicates).
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import math
import random
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypedDict

import orjson

__all__ = [
    "DEFAULT_STORY_SHARES",
    "STORIES",
    "Simulation",
    "SimulationConfig",
    "Truth",
    "simulate",
    "write_jsonl",
    "write_truth",
]

DAY = 86_400
HOUR = 3_600
WINDOW_DAYS = 28
_SEQ_BITS = 32  # sort key = occurred_at seconds << 32 | generation sequence
EMPLOYEES_ID = "employees"

STORIES = ("healthy", "noisy_healthy", "champion", "sour", "quiet_churner", "stalled_onboarding")
SCRIPTED_STORIES = STORIES[1:]
DEFAULT_STORY_SHARES: dict[str, float] = {
    "healthy": 0.80,
    "noisy_healthy": 0.08,
    "champion": 0.04,
    "sour": 0.03,
    "quiet_churner": 0.03,
    "stalled_onboarding": 0.02,
}

SEGMENTS = ("enterprise", "mid_market", "smb")
TICKET_CATEGORIES = ("billing", "bug", "onboarding", "how_to", "performance", "access")
MENTION_SOURCES = ("twitter", "reddit", "linkedin", "g2")
INTERACTION_CHANNELS = ("email", "call", "meeting", "chat")

# --------------------------------------------------------------------------
# Distributions (weights, not necessarily summing to 1)
# --------------------------------------------------------------------------

_SEGMENT_W = {  # enterprise, mid_market, smb
    "default": (10, 30, 60),
    "champion": (30, 40, 30),
    "stalled_onboarding": (0, 30, 70),
}
_SEGMENT_RATE = {"enterprise": 1.6, "mid_market": 1.1, "smb": 0.85}
_OWNERS = {  # the CS reps covering each segment
    "enterprise": ("rep-01", "rep-02", "rep-03"),
    "mid_market": ("rep-04", "rep-05", "rep-06", "rep-07"),
    "smb": ("rep-08", "rep-09", "rep-10", "rep-11", "rep-12"),
}
# plan, billing ("monthly"/"annual"), weight, annual contract value range (EUR)
_PLANS = {
    "enterprise": (("enterprise", "annual", 100, 60_000, 600_000),),
    "mid_market": (
        ("business", "annual", 60, 12_000, 60_000),
        ("business", "monthly", 40, 12_000, 48_000),
    ),
    "smb": (
        ("starter", "monthly", 55, 600, 2_400),
        ("pro", "monthly", 30, 2_400, 9_600),
        ("pro", "annual", 15, 2_400, 9_600),
    ),
}
_REPEAT_AMOUNT = {"enterprise": (1_000, 20_000), "mid_market": (200, 3_000), "smb": (20, 300)}
# UTC offset of the customer's business day (minutes), weight
_OFFSETS = ((0, 55), (60, 20), (120, 8), (-300, 10), (-480, 4), (330, 3))

# Local hour of day weights: business activity and social chatter.
_BUSINESS_HOURS = (
    0.05, 0.03, 0.03, 0.03, 0.05, 0.1, 0.2, 0.45, 1.0, 1.6, 1.7, 1.6,
    1.1, 1.5, 1.6, 1.5, 1.3, 0.9, 0.5, 0.3, 0.25, 0.2, 0.15, 0.08,
)
_SOCIAL_HOURS = (
    0.3, 0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 0.9, 1.0, 1.0, 1.1,
    1.2, 1.1, 1.0, 1.0, 1.0, 1.1, 1.3, 1.4, 1.4, 1.2, 0.9, 0.5,
)
_WEEKDAY_W = (1.0, 1.05, 1.05, 1.0, 0.85, 0.3, 0.2)  # Monday .. Sunday

# Background trigger types and per-story mix.
_IN, _OUT, _TICKET, _MENTION, _REPEAT = range(5)
_MIX = {
    "healthy": (22, 24, 10, 8, 3),
    "noisy_healthy": (36, 12, 30, 12, 2),
    "champion": (20, 30, 6, 12, 5),
    "sour": (22, 24, 10, 8, 3),
    "quiet_churner": (20, 20, 10, 6, 3),
    "stalled_onboarding": (0, 0, 0, 0, 0),
}
_STORY_RATE = {
    "healthy": 1.0, "noisy_healthy": 2.0, "champion": 1.2,
    "sour": 1.0, "quiet_churner": 0.85, "stalled_onboarding": 0.0,
}
_EVENTS_PER_TRIGGER = 1.35  # events per trigger over the story mix (tickets close, get CSAT...), calibrated
_FIXED_PER_MONTH = 0.8  # renewals + NPS answers, not part of the trigger rate
_WAVE_RESPONSE = {
    "healthy": 0.35, "noisy_healthy": 0.45, "champion": 0.8,
    "sour": 0.35, "quiet_churner": 0.25, "stalled_onboarding": 0.0,
}

_IN_CHANNEL_W = (50, 15, 5, 30)  # email, call, meeting, chat
_OUT_CHANNEL_W = (50, 22, 23, 5)
_TICKET_CATEGORY_W = (12, 20, 6, 30, 10, 12)
_TICKET_CHANNELS = ("email", "chat", "phone", "portal")
_TICKET_CHANNEL_W = (40, 25, 15, 20)
_PRIORITIES = ("low", "normal", "high", "urgent")
_PRIORITY_W = (25, 55, 15, 5)
_RESOLUTION_HOURS = {"low": 80.0, "normal": 36.0, "high": 16.0, "urgent": 6.0}
_SOURCE_W = (40, 20, 25, 15)
_REACH_MU = {"twitter": 6.0, "reddit": 5.0, "linkedin": 5.5, "g2": 3.5}

_NPS = {  # weight per score 0..10
    "healthy": (0, 0, 0, 0, 0, 2, 3, 14, 26, 27, 28),
    "noisy_healthy": (0, 0, 0, 0, 0, 1, 3, 24, 32, 25, 15),
    "champion": (0, 0, 0, 0, 0, 0, 0, 0, 0, 35, 65),
    "sour": (0, 0, 0, 0, 0, 2, 3, 14, 26, 27, 28),
    "quiet_churner": (0, 0, 0, 0, 0, 3, 7, 27, 28, 20, 15),
    "turned": (15, 20, 25, 25, 15, 0, 0, 0, 0, 0, 0),
    "employee": (1, 1, 1, 2, 2, 4, 9, 18, 22, 22, 18),
}
_CSAT = {  # weight per score 1..5
    "good": (3, 5, 10, 32, 50),
    "noisy": (4, 6, 14, 36, 40),
    "bad": (45, 35, 15, 5, 0),
}
_CES = {  # weight per score 1..7 (7 = very easy)
    "good": (1, 2, 4, 8, 20, 35, 30),
    "bad": (20, 30, 25, 15, 6, 3, 1),
}
# (weight, low, high) bands of mention sentiment
_SENTIMENT = {
    "healthy": ((55, -0.1, 0.3), (38, 0.3, 0.95), (7, -0.45, -0.1)),
    "noisy_healthy": ((35, -0.1, 0.3), (30, 0.3, 0.9), (35, -0.45, -0.1)),  # + one scripted outburst
    "champion": ((30, -0.05, 0.3), (70, 0.4, 1.0)),
    "quiet_churner": ((65, -0.1, 0.3), (28, 0.3, 0.9), (7, -0.45, -0.1)),
    "turned": ((100, -0.98, -0.5),),
}
_MENTION_TEXT = {
    "neg": (
        "Billing at Acme is a mess, charged twice again",
        "Done with Acme, nobody answers our tickets",
        "Avoid Acme: surprise invoice and no support",
        "Acme ignored our billing issue for weeks. Looking at alternatives",
        "Third wrong invoice from Acme this month",
    ),
    "mild": (
        "Acme dashboard a bit slow today",
        "Wish Acme had better exports",
        "Acme's new UI takes some getting used to",
    ),
    "neutral": (
        "Anyone using Acme for reporting?",
        "Comparing Acme pricing tiers",
        "Acme webinar on Thursday",
        "Migrating a few workflows to Acme",
    ),
    "pos": (
        "Really happy with Acme support this week",
        "Acme keeps getting better, great release",
        "Shout-out to the Acme team for the quick fix",
        "Renewed with Acme, easy decision",
        "Acme saves our team hours every week",
    ),
}
_COMMENTS = {
    "detractor": (
        "Billing errors keep happening",
        "Support is too slow",
        "We are paying for features we cannot use",
        "Invoices are wrong every month",
    ),
    "passive": ("Does the job", "Fine, but reporting could be better", "OK overall"),
    "promoter": ("Great team", "Saves us hours every week", "Best tool we have adopted this year"),
}


def _cum(weights: Iterable[float]) -> tuple[list[float], float]:
    acc, out = 0.0, []
    for w in weights:
        acc += w
        out.append(acc)
    return out, acc


def _hour_table(hours: tuple[float, ...], offset_min: int) -> tuple[list[float], float]:
    """Cumulative weights over UTC hours for a customer at ``offset_min``."""
    return _cum(hours[((u * 60 + offset_min) // 60) % 24] for u in range(24))


def _Picker(items: Iterable, weights: Iterable[float]) -> Callable[[Callable[[], float]], object]:
    """Weighted choice over ``items``: ``pick(rng.random)``, one random() and one bisect."""
    items = tuple(items)
    cum, total = _cum(weights)
    bisect_right = bisect.bisect_right

    def pick(rnd: Callable[[], float]):
        return items[bisect_right(cum, rnd() * total)]

    return pick


_P_IN_CH = _Picker(INTERACTION_CHANNELS, _IN_CHANNEL_W)
_P_OUT_CH = _Picker(INTERACTION_CHANNELS, _OUT_CHANNEL_W)
_P_CATEGORY = _Picker(TICKET_CATEGORIES, _TICKET_CATEGORY_W)
_P_TICKET_CH = _Picker(_TICKET_CHANNELS, _TICKET_CHANNEL_W)
_P_PRIORITY = _Picker(_PRIORITIES, _PRIORITY_W)
_P_SOURCE = _Picker(MENTION_SOURCES, _SOURCE_W)
_P_OFFSET = _Picker([o for o, _ in _OFFSETS], [w for _, w in _OFFSETS])
_OFFSET_STR = {o: f"{'+' if o >= 0 else '-'}{abs(o) // 60:02d}:{abs(o) % 60:02d}" for o, _ in _OFFSETS}
_P_NPS = {k: _Picker(range(11), w) for k, w in _NPS.items()}
_P_CSAT = {k: _Picker(range(1, 6), w) for k, w in _CSAT.items()}
_P_CES = {k: _Picker(range(1, 8), w) for k, w in _CES.items()}
_P_SENTIMENT = {k: _Picker([(lo, hi) for _, lo, hi in b], [w for w, _, _ in b]) for k, b in _SENTIMENT.items()}
_P_SEGMENT = {k: _Picker(SEGMENTS, w) for k, w in _SEGMENT_W.items()}
_P_PLAN = {s: _Picker(plans, [p[2] for p in plans]) for s, plans in _PLANS.items()}
# Interaction payloads are immutable and shared (the emitter copies them).
_INTERACTION = {(d, c): {"direction": d, "channel": c} for d in ("inbound", "outbound") for c in INTERACTION_CHANNELS}


class _Random(random.Random):
    """Mersenne Twister with cheaper ``randint``/``choice`` (one ``random()`` each).

    The standard ones draw through ``getrandbits`` with rejection, several times
    slower; the slight bias of scaling a float does not matter for a simulation."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    limit, k, prod, rnd = math.exp(-lam), 0, rng.random(), rng.random
    while prod > limit:
        k += 1
        prod *= rnd()
    return k


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DATE_CACHE: dict[int, str] = {}
_HM = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]  # minute of day -> "HH:MM:"
_SS = [f"{s:02d}" for s in range(60)]


def _date_prefix(day: int) -> str:
    """"YYYY-MM-DDT" of the day ``day`` days after 1970-01-01, cached."""
    date = _DATE_CACHE.get(day)
    if date is None:
        date = _DATE_CACHE[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
    return date


def _iso(ts: int, offset_min: int = 0, offset_str: str = "+00:00") -> str:
    """ISO-8601 with offset for epoch seconds ``ts``."""
    day, sec = divmod(ts + offset_min * 60, DAY)
    m, s = divmod(sec, 60)
    return f"{_date_prefix(day)}{m // 60:02d}:{m % 60:02d}:{s:02d}{offset_str}"


_MONTH_START: dict[tuple[int, int], int] = {}


def _add_months(y: int, m: int, day: int, sec: int, k: int) -> int:
    """Epoch seconds of ``day`` (<= 28) at ``sec`` in the month ``k`` months after y-m."""
    dy, m0 = divmod(m - 1 + k, 12)
    key = (y + dy, m0 + 1)
    first = _MONTH_START.get(key)
    if first is None:
        first = _MONTH_START[key] = int(datetime(key[0], key[1], 1, tzinfo=timezone.utc).timestamp())
    return first + (day - 1) * DAY + sec


# --------------------------------------------------------------------------
# Public types
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. ``start`` must be timezone-aware (it is used as UTC)."""

    customers: int
    days: int
    seed: int
    start: datetime
    story_shares: dict[str, float] | None = None
    events_per_customer_per_month: float = 12.0
    epoch_ms_share: float = 0.1  # share of events whose occurred_at is epoch milliseconds
    new_customer_share: float = 0.10  # share of healthy customers signing up inside the period
    employees: int | None = None  # eNPS respondents per wave; default from customers

    def __post_init__(self) -> None:
        if self.customers < 1 or self.days < 1:
            raise ValueError("customers and days must be >= 1")
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if self.events_per_customer_per_month < 0:
            raise ValueError("events_per_customer_per_month must be >= 0")
        if not 0.0 <= self.epoch_ms_share <= 1.0 or not 0.0 <= self.new_customer_share <= 1.0:
            raise ValueError("shares must be within [0, 1]")
        shares = self.story_shares
        if shares is not None:
            unknown = set(shares) - set(STORIES)
            if unknown:
                raise ValueError(f"unknown stories: {sorted(unknown)}")
            if any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
                raise ValueError("story shares must be >= 0 with a positive sum")

    def shares(self) -> dict[str, float]:
        """Normalised story shares (missing stories count 0 when shares are given)."""
        raw = DEFAULT_STORY_SHARES if self.story_shares is None else self.story_shares
        total = sum(raw.values())
        return {s: raw.get(s, 0.0) / total for s in STORIES}


class Truth(TypedDict):
    customer_id: str
    story: str
    turns_at: str | None
    segment: str
    plan: str
    owner: str
    signed_up_at: str
    cancelled_at: str | None
    referred_by: str | None


class _Profile:
    __slots__ = (
        "idx", "cid", "story", "segment", "plan", "billing", "owner", "cv", "signup", "activated",
        "newcomer", "turns", "cancel", "silent_from", "purchase_stop", "off", "offstr", "rate",
        "mix", "hours_biz", "hours_soc", "changes", "referred_by", "anchor", "outburst", "marks",
    )


def allocate_stories(n: int, shares: dict[str, float]) -> dict[str, int]:
    """Customers per story: largest remainder, and at least one of each
    scripted story with a positive share once ``n >= 20``."""
    exact = {s: shares.get(s, 0.0) * n for s in STORIES}
    counts = {s: int(exact[s]) for s in STORIES}
    order = sorted(STORIES, key=lambda s: (-(exact[s] - counts[s]), STORIES.index(s)))
    for s in order[: n - sum(counts.values())]:
        counts[s] += 1
    if n >= 20:
        for s in SCRIPTED_STORIES:
            if shares.get(s, 0.0) > 0 and counts[s] == 0:
                donor = max(STORIES, key=lambda t: (counts[t], -STORIES.index(t)))
                counts[donor] -= 1
                counts[s] += 1
    return counts


def _config_tag(cfg: SimulationConfig) -> str:
    key = orjson.dumps(
        [cfg.customers, cfg.days, cfg.seed, cfg.start.timestamp(), cfg.shares(),
         cfg.events_per_customer_per_month, cfg.epoch_ms_share, cfg.new_customer_share, cfg.employees],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.blake2b(key, digest_size=3).hexdigest()


# --------------------------------------------------------------------------
# The simulation
# --------------------------------------------------------------------------


class Simulation:
    """A configured run: ``events()`` streams the events, ``truth()`` the plan."""

    def __init__(self, cfg: SimulationConfig) -> None:
        self.config = cfg
        self.start = int(cfg.start.timestamp())
        self.end = self.start + cfg.days * DAY
        self.tag = _config_tag(cfg)
        width = max(6, len(str(cfg.customers)))
        self._cid_fmt = f"c{{:0{width}d}}"
        prng = _Random(f"profiles:{cfg.seed}")
        self._profiles = self._make_profiles(prng)
        self._nps_waves = self._waves(prng, first=(3, 20))
        self._enps_waves = self._waves(prng, first=(8, 40))
        self._employees = cfg.employees if cfg.employees is not None else min(300, max(8, cfg.customers // 200))

    # ---- planning ---------------------------------------------------------

    def _waves(self, rng: random.Random, first: tuple[int, int]) -> list[int]:
        lo, hi = first
        hi = max(lo, min(hi, self.config.days // 2))
        waves, t = [], self.start + rng.randint(lo, hi) * DAY
        while t < self.end:
            waves.append(t - t % DAY + 9 * HOUR)  # a wave goes out at 09:00 UTC
            t += rng.randint(84, 98) * DAY
        return waves

    def _business_time(self, rng: random.Random, ts: int, off: int) -> int:
        """Move ``ts`` to a weekday working hour (local time) of the same week."""
        local = ts + off * 60
        day = local - local % DAY
        weekday = (day // DAY + 3) % 7  # 1970-01-01 was a Thursday
        if weekday >= 5:
            day += (7 - weekday) * DAY
        return day + rng.randint(9 * HOUR, 17 * HOUR) - off * 60

    def _turn_time(self, rng: random.Random, delay_days: int, off: int) -> int:
        """A working hour in the middle third, leaving room for the cancellation if possible."""
        d = self.config.days
        lo, hi = d / 3, 2 * d / 3
        if min(hi, d - delay_days - 3) >= lo:
            hi = min(hi, d - delay_days - 3)
        t = self.start + int(rng.uniform(lo, hi) * DAY)
        snapped = self._business_time(rng, t, off)
        return snapped if self.start + lo * DAY <= snapped <= self.start + hi * DAY else t

    def _make_profiles(self, rng: random.Random) -> list[_Profile]:
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
                    referrer[pool.pop()] = self._cid_fmt.format(c + 1)

        base_rate = max(0.0, cfg.events_per_customer_per_month - _FIXED_PER_MONTH) / _EVENTS_PER_TRIGGER / 30.44
        span = self.end - self.start
        hour_tables = {o: (_hour_table(_BUSINESS_HOURS, o), _hour_table(_SOCIAL_HOURS, o)) for o, _ in _OFFSETS}
        mixes = {story: _cum(mix) for story, mix in _MIX.items()}
        profiles = []
        for i, story in enumerate(stories):
            p = _Profile()
            p.idx, p.cid, p.story = i, self._cid_fmt.format(i + 1), story
            p.segment = _P_SEGMENT.get(story, _P_SEGMENT["default"])(rnd)
            p.plan, p.billing, _, lo, hi = _P_PLAN[p.segment](rnd)
            p.cv = round(math.exp(rng.uniform(math.log(lo), math.log(hi))), -1)
            p.owner = rng.choice(_OWNERS[p.segment])
            p.off = _P_OFFSET(rnd)
            p.offstr = _OFFSET_STR[p.off]
            p.hours_biz, p.hours_soc = hour_tables[p.off]
            p.rate = base_rate * _SEGMENT_RATE[p.segment] * _STORY_RATE[story]
            p.mix = mixes[story]
            p.referred_by = referrer.get(i)
            p.turns = p.cancel = None
            # noisy customers vent strongly at most once: mixed, never sustained, negativity
            p.outburst = self.start + int(rnd() * span) if story == "noisy_healthy" and rnd() < 0.5 else None
            p.silent_from = p.purchase_stop = self.end
            p.newcomer = i in newcomers or story == "stalled_onboarding"
            if story == "stalled_onboarding":
                p.turns = self._turn_time(rng, 0, p.off)
                p.signup = p.turns - 14 * DAY
                p.activated = None
                p.silent_from = p.purchase_stop = p.turns
            else:
                if p.newcomer:
                    p.signup = self._business_time(rng, self.start + DAY + int(rnd() * max(DAY, span - 8 * DAY)), p.off)
                    p.activated = p.signup + rng.randint(1 * DAY, 10 * DAY)
                else:
                    p.signup = self.start - rng.randint(30 * DAY, 1500 * DAY) - rng.randint(0, DAY)
                    p.activated = p.signup + rng.randint(1 * DAY, (45 if p.segment == "enterprise" else 20) * DAY)
            if story == "sour":
                delay = rng.randint(22, 39)  # 3-6 weeks once moved to a working day
                p.turns = self._turn_time(rng, delay, p.off)
                p.cancel = self._business_time(rng, p.turns + delay * DAY, p.off)
                p.silent_from, p.purchase_stop = p.turns + 14 * DAY, p.turns
            elif story == "quiet_churner":
                delay = rng.randint(29, 53)  # 4-8 weeks once moved to a working day
                p.turns = self._turn_time(rng, delay, p.off)
                p.cancel = self._business_time(rng, p.turns + delay * DAY, p.off)
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

    # ---- public -----------------------------------------------------------

    def truth(self) -> list[Truth]:
        out: list[Truth] = []
        for p in self._profiles:
            out.append({
                "customer_id": p.cid,
                "story": p.story,
                "turns_at": None if p.turns is None else _iso(p.turns),
                "segment": p.segment,
                "plan": p.plan,
                "owner": p.owner,
                "signed_up_at": _iso(p.signup),
                "cancelled_at": _iso(p.cancel) if p.cancel is not None and p.cancel < self.end else None,
                "referred_by": p.referred_by,
            })
        return out

    def __iter__(self) -> Iterator[dict]:
        return self.events()

    def events(self) -> Iterator[dict]:
        """All events in (occurred_at, event_id) order, generated window by window."""
        cfg = self.config
        gen = _WindowGenerator(self, _Random(f"events:{cfg.seed}"))
        emit_rnd = random.Random(f"emit:{cfg.seed}").random
        epoch_share, end, tag = cfg.epoch_ms_share, self.end, self.tag
        # (customer_id, offset seconds, offset text) per customer index; -1 = employees
        meta = [(p.cid, p.off * 60, p.offstr) for p in self._profiles] + [(EMPLOYEES_ID, 0, "+00:00")]
        minutes: dict[int, str] = {}  # local minute -> "YYYY-MM-DDTHH:MM:", cleared per window
        hm, ss = _HM, _SS
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
            cut = bisect.bisect_left(batch, (we << _SEQ_BITS,))
            pending = batch[cut:] if we < end else []
            ready = batch[:cut]
            del batch
            minutes.clear()
            for key, cidx, topic, fields in ready:
                ts = key >> _SEQ_BITS
                seq += 1
                cid, off, offstr = meta[cidx]
                if emit_rnd() < epoch_share:
                    occurred = ts * 1000
                else:  # inline ISO formatting, the hottest path of the simulator
                    minute_no, sec = divmod(ts + off, 60)
                    minute = minutes.get(minute_no)
                    if minute is None:
                        day, minute_of_day = divmod(minute_no, 1440)
                        minute = minutes[minute_no] = _date_prefix(day) + hm[minute_of_day]
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


class _WindowGenerator:
    """Appends ``(ts << 32 | gseq, customer_index, topic, fields)`` tuples for a window.

    ``gseq`` numbers the events in generation order, so the single-int key sorts
    by time and then deterministically, and tuples never compare their dicts."""

    def __init__(self, sim: Simulation, rng: random.Random) -> None:
        self.sim = sim
        self.end = sim.end
        self.rng = rng
        self.rnd = rng.random
        self.gseq = count()
        self.ids = count(1)
        self.rotation: dict[int, tuple[int, int]] = {}  # noisy customer -> (last ticket, next category)

    # ---- helpers ----------------------------------------------------------

    def _emit(self, out, ts, p, topic, fields):
        if ts < self.end:
            out.append((ts << _SEQ_BITS | next(self.gseq), p.idx if p is not None else -1, topic, fields))

    def _survey(self, out, ts, p, kind, score, touchpoint, comment_p=0.25):
        fields = {"kind": kind, "score": score, "touchpoint": touchpoint}
        if kind == "nps" and self.rnd() < comment_p:
            band = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
            fields["comment"] = self.rng.choice(_COMMENTS[band])
        self._emit(out, ts, p, "survey", fields)

    def _mention(self, out, ts, p, band_key):
        rng = self.rng
        lo, hi = _P_SENTIMENT[band_key](self.rnd)
        sentiment = round(rng.uniform(lo, hi), 2)
        source = _P_SOURCE(self.rnd)
        texts = _MENTION_TEXT[
            "neg" if sentiment <= -0.5 else "mild" if sentiment < -0.05 else "neutral" if sentiment < 0.3 else "pos"
        ]
        self._emit(out, ts, p, "mention", {
            "source": source,
            "sentiment": sentiment,
            "text": texts[int(self.rnd() * len(texts))],
            "reach": int(rng.lognormvariate(_REACH_MU[source], 1.2)),
        })

    def _ticket(self, out, ts, p, category, priority=None, closed=True, csat="good", ces="good"):
        rng, rnd = self.rng, self.rnd
        priority = priority or _P_PRIORITY(rnd)
        base = {
            "ticket_id": f"T{next(self.ids):08d}",
            "category": category,
            "priority": priority,
            "channel": _P_TICKET_CH(rnd),
        }
        self._emit(out, ts, p, "ticket", {**base, "status": "opened"})
        if not closed:
            return
        t = ts + int(rng.expovariate(1.0 / _RESOLUTION_HOURS[priority]) * HOUR) + 15 * 60
        self._emit(out, t, p, "ticket", {**base, "status": "closed"})
        if rnd() < 0.08 and t + 3 * DAY < p.silent_from:  # the customer reopens it
            t += rng.randint(DAY, 3 * DAY)
            self._emit(out, t, p, "ticket", {**base, "status": "reopened"})
            t += int(rng.expovariate(1.0 / _RESOLUTION_HOURS[priority]) * HOUR) + 15 * 60
            self._emit(out, t, p, "ticket", {**base, "status": "closed"})
        x, t = rnd(), t + rng.randint(600, 2 * DAY)
        if t >= p.silent_from:
            return  # the customer no longer answers surveys
        if x < 0.35:
            self._survey(out, t, p, "csat", _P_CSAT[csat](rnd), "support_ticket")
        elif x < 0.43:
            self._survey(out, t, p, "ces", _P_CES[ces](rnd), "support_ticket")

    def _purchase(self, out, ts, p, kind, amount, contract_value=None, referred_by=None):
        fields = {
            "amount": round(amount, 2),
            "currency": "EUR",
            "kind": kind,
            "order_id": f"O{next(self.ids):08d}",
        }
        if contract_value is not None:
            fields["contract_value"] = round(contract_value, 2)
        if referred_by is not None:
            fields["referred_by"] = referred_by
        self._emit(out, ts, p, "purchase", fields)

    def _account(self, out, ts, p, cancelled=False):
        fields = {
            "segment": p.segment,
            "plan": p.plan,
            "owner": p.owner,
            "signed_up_at": _iso(p.signup),
            "activated_at": _iso(p.activated) if p.activated is not None and p.activated <= ts else None,
        }
        if cancelled:
            fields["cancelled_at"] = _iso(p.cancel)
        self._emit(out, ts, p, "account", fields)

    @staticmethod
    def _contract_value(p: _Profile, ts: int) -> float:
        cv = p.cv
        for t, kind, frac in p.changes:
            if t > ts:
                break
            cv *= 1 + frac if kind == "expansion" else 1 - frac
        return cv

    # ---- one window -------------------------------------------------------

    def window(self, ws: int, we: int, out: list) -> None:
        sim = self.sim
        self.ws, self.we = ws, we
        wd = datetime.fromtimestamp(ws, timezone.utc)
        self.ws_year, self.ws_month = wd.year, wd.month
        self.grid0 = ws - ws % DAY
        n_days = -(-(we - self.grid0) // DAY)
        self.day_cum, self.day_total = _cum(_WEEKDAY_W[(self.grid0 // DAY + d + 3) % 7] for d in range(n_days))
        self.grid_days = n_days
        waves = [w for w in sim._nps_waves if ws <= w < we]
        for p in sim._profiles:
            self._customer(p, ws, we, waves, out)
        rng = self.rng
        for w in sim._enps_waves:
            if ws <= w < we:
                for _ in range(sim._employees):
                    t = w + int(min(rng.expovariate(1 / (2 * DAY)), 10 * DAY)) + rng.randint(0, 8 * HOUR)
                    self._emit(out, t, None, "survey", {
                        "kind": "nps",
                        "score": _P_NPS["employee"](self.rnd),
                        "touchpoint": "enps",
                        "respondent": "employee",
                    })

    def _customer(self, p: _Profile, ws: int, we: int, waves: list[int], out: list) -> None:
        rng, rnd = self.rng, self.rnd
        story = p.story
        if p.cancel is not None and p.cancel < ws:
            return
        # -- scripted milestones (account events, onboarding, turns, contract changes) --
        if p.marks[-1][0] >= ws:
            for t, mark, arg in p.marks:
                if t < ws:
                    continue
                if t >= we:
                    break
                if mark == "account":
                    self._account(out, t, p, cancelled=arg)
                elif mark == "onboarding":
                    self._onboarding(out, p)
                elif mark == "sour_turn":
                    self._sour_turn(out, p)
                elif mark == "outburst":
                    self._mention(out, t, p, "turned")
                else:  # expansion / contraction
                    before = self._contract_value(p, t - 1)
                    self._purchase(out, t, p, mark, before * arg, contract_value=self._contract_value(p, t))
        # -- renewals --
        if p.purchase_stop > ws:
            step = 1 if p.billing == "monthly" else 12
            y, m, d, sec = p.anchor
            k = max(1, ((self.ws_year - y) * 12 + self.ws_month - m - 1) // step)
            while True:
                t = _add_months(y, m, d, sec, k * step)
                if t >= we or t >= p.purchase_stop:
                    break
                if t >= ws:
                    cv = self._contract_value(p, t)
                    self._purchase(out, t, p, "renewal", cv / 12 if step == 1 else cv, contract_value=cv)
                k += 1
        # -- survey waves --
        lo = max(ws, p.signup)
        hi = min(we, p.silent_from)
        for w in waves:
            if w < p.signup + 30 * DAY or w >= p.silent_from or rnd() >= _WAVE_RESPONSE[story]:
                continue
            t = w + int(min(rng.expovariate(1 / (1.5 * DAY)), 12 * DAY)) + rng.randint(0, 6 * HOUR)
            if t < p.silent_from:
                turned = p.turns is not None and t >= p.turns
                self._survey(out, t, p, "nps", _P_NPS["turned" if turned else story](rnd), "relationship")
        # -- background activity --
        if hi <= lo or p.rate <= 0:
            return
        n = _poisson(rng, p.rate * self.grid_days)
        if not n:
            return
        mix_cum, mix_total = p.mix
        bisect_right, gseq, idx, append = bisect.bisect_right, self.gseq, p.idx, out.append
        grid0, day_cum, day_total = self.grid0, self.day_cum, self.day_total
        (biz_cum, biz_total), (soc_cum, soc_total) = p.hours_biz, p.hours_soc
        tickets: list[int] = []
        amount_lo, amount_hi = _REPEAT_AMOUNT[p.segment]
        turned_at = p.turns if story == "sour" else None
        for _ in range(n):
            kind = bisect_right(mix_cum, rnd() * mix_total)
            ts = grid0 + bisect_right(day_cum, rnd() * day_total) * DAY + int(rnd() * HOUR) + HOUR * (
                bisect_right(soc_cum, rnd() * soc_total) if kind == _MENTION
                else bisect_right(biz_cum, rnd() * biz_total)
            )
            if ts < lo or ts >= hi:
                continue
            if kind == _IN:
                append((ts << _SEQ_BITS | next(gseq), idx, "interaction", _INTERACTION["inbound", _P_IN_CH(rnd)]))
            elif kind == _OUT:
                append((ts << _SEQ_BITS | next(gseq), idx, "interaction", _INTERACTION["outbound", _P_OUT_CH(rnd)]))
            elif kind == _TICKET:
                tickets.append(ts)
            elif kind == _MENTION:
                turned = turned_at is not None and ts >= turned_at
                self._mention(out, ts, p, "turned" if turned else story if story in _SENTIMENT else "healthy")
            elif ts < p.purchase_stop:
                amount = math.exp(rng.uniform(math.log(amount_lo), math.log(amount_hi)))
                self._purchase(out, ts, p, "repeat", amount)
                if rnd() < 0.03 and ts + 10 * DAY < p.purchase_stop:
                    self._purchase(out, ts + rng.randint(DAY, 10 * DAY), p, "refund", round(amount, 2))
        if tickets:
            tickets.sort()
            if story == "noisy_healthy":
                # Many tickets, but varied: categories rotate and tickets are at least
                # 1.25 days apart, so one category never comes back 3 times in 14 days.
                last, k = self.rotation.get(p.idx) or (-DAY * 2, int(rnd() * 6))
                for ts in tickets:
                    if ts - last >= 1.25 * DAY:
                        self._ticket(out, ts, p, TICKET_CATEGORIES[k % 6], csat="noisy")
                        last, k = ts, k + 1
                self.rotation[p.idx] = (last, k)
            else:
                for ts in tickets:
                    bad = turned_at is not None and ts >= turned_at
                    self._ticket(out, ts, p, _P_CATEGORY(rnd), closed=rnd() > 0.03, csat="bad" if bad else "good")

    # ---- scripts ----------------------------------------------------------

    def _onboarding(self, out, p: _Profile) -> None:
        """Signup of a customer inside the period (newcomer or stalled)."""
        rng, rnd, s = self.rng, self.rnd, p.signup
        if s >= self.sim.start:
            self._account(out, s, p)
            first = p.cv / 12 if p.billing == "monthly" else p.cv
            self._purchase(out, s + rng.randint(60, 3600), p, "new", first, contract_value=p.cv,
                           referred_by=p.referred_by)
        # else: signed up before the period; its account event is the start snapshot
        start = self.sim.start

        def onboard(a: float, b: float) -> int:
            t = s + rng.randint(int(a * DAY), int(b * DAY))
            if t < start:  # signed up just before the period: squeeze it into its first days
                t = start + int(rnd() * max(HOUR, s + 13 * DAY - start))
            return t

        if p.story == "stalled_onboarding":
            self._emit(out, onboard(0.05, 1), p, "interaction", _INTERACTION["outbound", "email"])
            for _ in range(2):
                self._ticket(out, onboard(1, 10), p, "onboarding", priority="normal", ces="bad")
            if rnd() < 0.5:
                self._emit(out, onboard(1, 6), p, "interaction", _INTERACTION["inbound", "chat"])
            self._emit(out, onboard(8, 13), p, "interaction", _INTERACTION["outbound", "email"])
            return
        self._emit(out, onboard(1, 3), p, "interaction", _INTERACTION["outbound", "meeting"])
        self._emit(out, onboard(6, 12), p, "interaction", _INTERACTION["outbound", "call"])
        if rnd() < 0.6:
            self._ticket(out, onboard(1, 10), p, "onboarding")

    def _sour_turn(self, out, p: _Profile) -> None:
        """The turn: detractor answer, recurring billing tickets, negative burst."""
        rng, rnd, t = self.rng, self.rnd, p.turns
        self._survey(out, t, p, "nps", rng.randint(0, 4), "relationship", comment_p=0.8)
        for _ in range(rng.randint(3, 5)):
            ts = t + rng.randint(HOUR, 13 * DAY)
            self._ticket(out, ts, p, "billing", priority=_PRIORITIES[2 + (rnd() < 0.4)], csat="bad", ces="bad")
        for _ in range(rng.randint(3, 6)):
            self._mention(out, t + rng.randint(6 * HOUR, 10 * DAY), p, "turned")
        for _ in range(rng.randint(1, 3)):  # angry calls and emails before going quiet
            ch = "call" if rnd() < 0.5 else "email"
            self._emit(out, t + rng.randint(HOUR, 12 * DAY), p, "interaction", _INTERACTION["inbound", ch])


def simulate(cfg: SimulationConfig) -> Simulation:
    return Simulation(cfg)


def write_jsonl(
    events: Iterable[dict],
    path: str | Path,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 100_000,
) -> int:
    """Write events as JSON lines (``-`` for stdout); returns the count."""
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    n = 0
    out = sys.stdout.buffer if str(path) == "-" else open(path, "wb", buffering=1 << 20)  # noqa: SIM115
    write = out.write
    try:
        # one write per line into a large buffer: holding many small bytes objects is slower
        for ev in events:
            write(dumps(ev, option=newline))
            n += 1
            if progress is not None and n % progress_every == 0:
                progress(n)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    if progress is not None:
        progress(n)
    return n


def write_truth(truth: Iterable[Truth], path: str | Path) -> int:
    """Write the truth rows as JSON lines; returns the count."""
    return write_jsonl(truth, path)
