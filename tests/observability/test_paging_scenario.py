"""The paging scenario of the end-to-end test, offline: no broker, no Alertmanager."""
from __future__ import annotations

from tests.support.paging_scenario import HEALTHY, RED, RED_OWNER, replay_alerts, scenario


def critical(alerts: list[dict]) -> list[tuple]:
    return [(a["customer_id"], a["rule"], a["status"]) for a in alerts if a["severity"] == "critical"]


def test_scenario_offline_red_customer_pages_then_resolves():
    """The scenario does what the end-to-end paging test relies on, per the offline replay (the
    worker's oracle)."""
    phase1, phase2 = scenario()
    first = replay_alerts(phase1)
    assert critical(first) == [(RED, "entered_red", "firing")], critical(first)
    assert not [a for a in first if a["customer_id"] == HEALTHY]
    everything = replay_alerts(phase1 + phase2)
    assert critical(everything) == [(RED, "entered_red", "firing"), (RED, "entered_red", "resolved")]
    assert not [a for a in everything if a["customer_id"] == HEALTHY]
    assert all(a["owner"] == RED_OWNER and a["segment"] == "enterprise" for a in everything)
