"""Referrals and champions.

A purchase with `referred_by` yields a ReferralCredit for the referrer
(handlers.customer.derived_events); folding it counts one referral. Champion:
at least referrals.champion_min_referrals referrals, or a promoter (latest NPS
answer in the window >= 9) with at least one.
"""
from __future__ import annotations

from handlers.events import ReferralCredit
from handlers.metrics import nps
from handlers.timeutil import day_of

CONSTANT = True


def fold(state, event, config) -> None:
    if isinstance(event, ReferralCredit):
        state.referrals += 1


def read(state, as_of_ms: int, config) -> dict:
    latest = nps.counts(state, day_of(as_of_ms), config)[3]
    n = state.referrals
    champion = n >= config.referrals.champion_min_referrals or (n >= 1 and latest is not None and latest >= 9)
    return {"referrals": n, "champion": champion}


def components(state, day: int, config) -> dict:
    return {}


def change_sources(state, config) -> list[tuple]:
    return []
