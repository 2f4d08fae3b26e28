"""What customers look like and do: segments, plans, owners, time zones, the hours and weekdays
of activity, each story's mix of background activity, survey scores, sentiment and the texts
of mentions and comments, with the weighted pickers and the random source that draw from them."""

from __future__ import annotations

import bisect
import math
import random
from typing import Callable, Iterable

SEGMENTS = ("enterprise", "mid_market", "smb")
TICKET_CATEGORIES = ("billing", "bug", "onboarding", "how_to", "performance", "access")
MENTION_SOURCES = ("twitter", "reddit", "linkedin", "g2")
INTERACTION_CHANNELS = ("email", "call", "meeting", "chat")

# --------------------------------------------------------------------------
# Distributions (weights, not necessarily summing to 1)
# --------------------------------------------------------------------------

SEGMENT_W = {  # enterprise, mid_market, smb
    "default": (10, 30, 60),
    "champion": (30, 40, 30),
    "stalled_onboarding": (0, 30, 70),
}
SEGMENT_RATE = {"enterprise": 1.6, "mid_market": 1.1, "smb": 0.85}
OWNERS = {  # the CS reps covering each segment
    "enterprise": ("rep-01", "rep-02", "rep-03"),
    "mid_market": ("rep-04", "rep-05", "rep-06", "rep-07"),
    "smb": ("rep-08", "rep-09", "rep-10", "rep-11", "rep-12"),
}
# plan, billing ("monthly"/"annual"), weight, annual contract value range (EUR)
PLANS = {
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
REPEAT_AMOUNT = {"enterprise": (1_000, 20_000), "mid_market": (200, 3_000), "smb": (20, 300)}
# UTC offset of the customer's business day (minutes), weight
OFFSETS = ((0, 55), (60, 20), (120, 8), (-300, 10), (-480, 4), (330, 3))

# Local hour of day weights: business activity and social chatter.
BUSINESS_HOURS = (
    0.05, 0.03, 0.03, 0.03, 0.05, 0.1, 0.2, 0.45, 1.0, 1.6, 1.7, 1.6,
    1.1, 1.5, 1.6, 1.5, 1.3, 0.9, 0.5, 0.3, 0.25, 0.2, 0.15, 0.08,
)
SOCIAL_HOURS = (
    0.3, 0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 0.9, 1.0, 1.0, 1.1,
    1.2, 1.1, 1.0, 1.0, 1.0, 1.1, 1.3, 1.4, 1.4, 1.2, 0.9, 0.5,
)
WEEKDAY_W = (1.0, 1.05, 1.05, 1.0, 0.85, 0.3, 0.2)  # Monday .. Sunday

# Background trigger types and per-story mix.
IN, OUT, TICKET, MENTION, REPEAT = range(5)
MIX = {
    "healthy": (22, 24, 10, 8, 3),
    "noisy_healthy": (36, 12, 30, 12, 2),
    "champion": (20, 30, 6, 12, 5),
    "sour": (22, 24, 10, 8, 3),
    "quiet_churner": (20, 20, 10, 6, 3),
    "stalled_onboarding": (0, 0, 0, 0, 0),
}
STORY_RATE = {
    "healthy": 1.0, "noisy_healthy": 2.0, "champion": 1.2,
    "sour": 1.0, "quiet_churner": 0.85, "stalled_onboarding": 0.0,
}
EVENTS_PER_TRIGGER = 1.35  # events per trigger over the story mix (tickets close, get CSAT...), calibrated
FIXED_PER_MONTH = 0.8  # renewals + NPS answers, not part of the trigger rate
WAVE_RESPONSE = {
    "healthy": 0.35, "noisy_healthy": 0.45, "champion": 0.8,
    "sour": 0.35, "quiet_churner": 0.25, "stalled_onboarding": 0.0,
}

IN_CHANNEL_W = (50, 15, 5, 30)  # email, call, meeting, chat
OUT_CHANNEL_W = (50, 22, 23, 5)
TICKET_CATEGORY_W = (12, 20, 6, 30, 10, 12)
TICKET_CHANNELS = ("email", "chat", "phone", "portal")
TICKET_CHANNEL_W = (40, 25, 15, 20)
PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_W = (25, 55, 15, 5)
RESOLUTION_HOURS = {"low": 80.0, "normal": 36.0, "high": 16.0, "urgent": 6.0}
SOURCE_W = (40, 20, 25, 15)
REACH_MU = {"twitter": 6.0, "reddit": 5.0, "linkedin": 5.5, "g2": 3.5}

NPS = {  # weight per score 0..10
    "healthy": (0, 0, 0, 0, 0, 2, 3, 14, 26, 27, 28),
    "noisy_healthy": (0, 0, 0, 0, 0, 1, 3, 24, 32, 25, 15),
    "champion": (0, 0, 0, 0, 0, 0, 0, 0, 0, 35, 65),
    "sour": (0, 0, 0, 0, 0, 2, 3, 14, 26, 27, 28),
    "quiet_churner": (0, 0, 0, 0, 0, 3, 7, 27, 28, 20, 15),
    "turned": (15, 20, 25, 25, 15, 0, 0, 0, 0, 0, 0),
    "employee": (1, 1, 1, 2, 2, 4, 9, 18, 22, 22, 18),
}
CSAT = {  # weight per score 1..5
    "good": (3, 5, 10, 32, 50),
    "noisy": (4, 6, 14, 36, 40),
    "bad": (45, 35, 15, 5, 0),
}
CES = {  # weight per score 1..7 (7 = very easy)
    "good": (1, 2, 4, 8, 20, 35, 30),
    "bad": (20, 30, 25, 15, 6, 3, 1),
}
# (weight, low, high) bands of mention sentiment
SENTIMENT = {
    "healthy": ((55, -0.1, 0.3), (38, 0.3, 0.95), (7, -0.45, -0.1)),
    "noisy_healthy": ((35, -0.1, 0.3), (30, 0.3, 0.9), (35, -0.45, -0.1)),  # + one scripted outburst
    "champion": ((30, -0.05, 0.3), (70, 0.4, 1.0)),
    "quiet_churner": ((65, -0.1, 0.3), (28, 0.3, 0.9), (7, -0.45, -0.1)),
    "turned": ((100, -0.98, -0.5),),
}
MENTION_TEXT = {
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
COMMENTS = {
    "detractor": (
        "Billing errors keep happening",
        "Support is too slow",
        "We are paying for features we cannot use",
        "Invoices are wrong every month",
    ),
    "passive": ("Does the job", "Fine, but reporting could be better", "OK overall"),
    "promoter": ("Great team", "Saves us hours every week", "Best tool we have adopted this year"),
}


def cum(weights: Iterable[float]) -> tuple[list[float], float]:
    acc, out = 0.0, []
    for w in weights:
        acc += w
        out.append(acc)
    return out, acc


def hour_table(hours: tuple[float, ...], offset_min: int) -> tuple[list[float], float]:
    """Cumulative weights over UTC hours for a customer at ``offset_min``."""
    return cum(hours[((u * 60 + offset_min) // 60) % 24] for u in range(24))


def picker(items: Iterable, weights: Iterable[float]) -> Callable[[Callable[[], float]], object]:
    """Weighted choice over ``items``: ``pick(rng.random)``, one random() and one bisect."""
    items = tuple(items)
    bounds, total = cum(weights)
    bisect_right = bisect.bisect_right

    def pick(rnd: Callable[[], float]):
        return items[bisect_right(bounds, rnd() * total)]

    return pick


P_IN_CH = picker(INTERACTION_CHANNELS, IN_CHANNEL_W)
P_OUT_CH = picker(INTERACTION_CHANNELS, OUT_CHANNEL_W)
P_CATEGORY = picker(TICKET_CATEGORIES, TICKET_CATEGORY_W)
P_TICKET_CH = picker(TICKET_CHANNELS, TICKET_CHANNEL_W)
P_PRIORITY = picker(PRIORITIES, PRIORITY_W)
P_SOURCE = picker(MENTION_SOURCES, SOURCE_W)
P_OFFSET = picker([o for o, _ in OFFSETS], [w for _, w in OFFSETS])
OFFSET_STR = {o: f"{'+' if o >= 0 else '-'}{abs(o) // 60:02d}:{abs(o) % 60:02d}" for o, _ in OFFSETS}
P_NPS = {k: picker(range(11), w) for k, w in NPS.items()}
P_CSAT = {k: picker(range(1, 6), w) for k, w in CSAT.items()}
P_CES = {k: picker(range(1, 8), w) for k, w in CES.items()}
P_SENTIMENT = {k: picker([(lo, hi) for _, lo, hi in b], [w for w, _, _ in b]) for k, b in SENTIMENT.items()}
P_SEGMENT = {k: picker(SEGMENTS, w) for k, w in SEGMENT_W.items()}
P_PLAN = {s: picker(plans, [p[2] for p in plans]) for s, plans in PLANS.items()}
# Interaction payloads are immutable and shared (the emitter copies them).
INTERACTION = {(d, c): {"direction": d, "channel": c} for d in ("inbound", "outbound") for c in INTERACTION_CHANNELS}


class FastRandom(random.Random):
    """Mersenne Twister with cheaper ``randint``/``choice`` (one ``random()`` each).

    The standard ones draw through ``getrandbits`` with rejection, several times
    slower; the slight bias of scaling a float does not matter for a simulation."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    limit, k, prod, rnd = math.exp(-lam), 0, rng.random(), rng.random
    while prod > limit:
        k += 1
        prod *= rnd()
    return k

