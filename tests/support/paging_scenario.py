"""A hand-made two-customer story for the paging tests: one customer turns red and recovers,
the other stays healthy; the end-to-end test feeds it to a real worker and Alertmanager, and
tests/observability/test_paging_scenario.py checks it against the offline replay."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson

from handlers.config import load_config
from handlers.replay import replay

SCN_START = datetime(2026, 3, 2, tzinfo=timezone.utc)
RED, HEALTHY = "cust-red-0001", "cust-ok-0002"
RED_OWNER, HEALTHY_OWNER = "rep-red-owner", "rep-ok-owner"
SOUR_FROM, RECOVER_FROM, SCN_DAYS = 10, 24, 44


def scenario() -> tuple[list[dict], list[dict]]:
    """Two enterprise accounts. RED is happy for 10 days, then sours (detractor answers, a ticket a
    day in the same category, angry mentions) until day 24, then recovers (promoters, tickets
    closed, praise, an expansion). HEALTHY is happy throughout. Returns (until day 24, after)."""
    phases: tuple[list[dict], list[dict]] = ([], [])
    seq = [0]

    def add(topic: str, cid: str, day: int, hour: int, **fields) -> None:
        seq[0] += 1
        at = SCN_START + timedelta(days=day, hours=hour, minutes=seq[0] % 60)
        phases[day >= RECOVER_FROM].append({"topic": topic, "event_id": f"scn-{seq[0]:05d}", "customer_id": cid,
                                            "occurred_at": at.isoformat(), **fields})

    for cid, owner in ((RED, RED_OWNER), (HEALTHY, HEALTHY_OWNER)):
        add("account", cid, 0, 1, segment="enterprise", plan="enterprise", owner=owner,
            signed_up_at=(SCN_START - timedelta(days=400)).isoformat(),
            activated_at=(SCN_START - timedelta(days=390)).isoformat())
    for d in range(SCN_DAYS):
        for cid in (HEALTHY,) + ((RED,) if d < SOUR_FROM else ()):
            add("interaction", cid, d, 10, direction="inbound", channel="email")
            add("interaction", cid, d, 15, direction="outbound", channel="call")
            add("mention", cid, d, 16, source="g2", sentiment=0.8, text="works well for us")
            if d % 5 == 0:
                add("survey", cid, d, 11, kind="nps", score=10, touchpoint="relationship")
                add("survey", cid, d, 12, kind="csat", score=5, touchpoint="support_ticket")
        if SOUR_FROM <= d < RECOVER_FROM:
            add("survey", RED, d, 11, kind="nps", score=0, touchpoint="relationship", comment="nothing works")
            add("survey", RED, d, 12, kind="csat", score=1, touchpoint="support_ticket")
            add("survey", RED, d, 13, kind="ces", score=1, touchpoint="support_ticket")
            add("ticket", RED, d, 9, ticket_id=f"T-{d}", status="opened", category="bug", priority="high")
            add("mention", RED, d, 16, source="twitter", sentiment=-0.9, text="down again")
            add("mention", RED, d, 17, source="twitter", sentiment=-0.9, text="down again")
        elif d >= RECOVER_FROM:
            add("interaction", RED, d, 10, direction="inbound", channel="meeting")
            add("survey", RED, d, 11, kind="nps", score=10, touchpoint="relationship")
            add("survey", RED, d, 12, kind="csat", score=5, touchpoint="support_ticket")
            add("survey", RED, d, 13, kind="ces", score=7, touchpoint="support_ticket")
            add("mention", RED, d, 16, source="g2", sentiment=0.9, text="fixed, great support")
            reopened_day = d - RECOVER_FROM + SOUR_FROM
            if reopened_day < RECOVER_FROM:
                add("ticket", RED, d, 9, ticket_id=f"T-{reopened_day}", status="closed", category="bug",
                    priority="high")
            if d == RECOVER_FROM + 1:
                add("purchase", RED, d, 8, amount=50000.0, currency="EUR", kind="expansion")
    for phase in phases:
        phase.sort(key=lambda e: datetime.fromisoformat(e["occurred_at"]))
    return phases


def replay_alerts(events: list[dict]) -> list[dict]:
    return replay((orjson.dumps(e) for e in events), load_config()).alerts
