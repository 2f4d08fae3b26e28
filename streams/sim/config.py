"""What to simulate: the configuration, the stories and how many customers each story gets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import orjson

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


def config_tag(cfg: SimulationConfig) -> str:
    key = orjson.dumps(
        [cfg.customers, cfg.days, cfg.seed, cfg.start.timestamp(), cfg.shares(),
         cfg.events_per_customer_per_month, cfg.epoch_ms_share, cfg.new_customer_share, cfg.employees],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.blake2b(key, digest_size=3).hexdigest()
