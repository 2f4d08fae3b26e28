"""The ground truth of a run: what each customer's story is and when it turns."""

from __future__ import annotations

from typing import TypedDict

from streams.sim.profiles import Profile
from streams.sim.times import iso


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


def truth_rows(profiles: list[Profile], end: int) -> list[Truth]:
    """Each customer's story and plan, to check health scores and alerts against."""
    out: list[Truth] = []
    for p in profiles:
        out.append({
            "customer_id": p.cid,
            "story": p.story,
            "turns_at": None if p.turns is None else iso(p.turns),
            "segment": p.segment,
            "plan": p.plan,
            "owner": p.owner,
            "signed_up_at": iso(p.signup),
            "cancelled_at": iso(p.cancel) if p.cancel is not None and p.cancel < end else None,
            "referred_by": p.referred_by,
        })
    return out
