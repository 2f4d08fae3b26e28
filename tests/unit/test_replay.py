import orjson

from streams.bench.replay_bench import run
from handlers.replay import replay

from .builders import CONFIG, at, raw


def lines():
    return [
        raw("cs.surveys", 1, "a", "s1", kind="nps", score=10),
        raw("cs.surveys", 2, "a", "s2", kind="nps", score=3),
        raw("cs.surveys", 2, "b", "s3", kind="nps", score=8),
        raw("cs.surveys", 2, "b", "s3", kind="nps", score=8),            # duplicate delivery
        raw("cs.surveys", 3, "b", "s4", kind="csat", score=5),
        raw("cs.surveys", 3, "b", "s5", kind="csat", score=2),
        raw("cs.surveys", 3, "hr", "s6", kind="nps", score=9, respondent="employee"),
        raw("cs.surveys", 3, "hr", "s7", kind="nps", score=2, respondent="employee"),
        raw("cs.purchases", 4, "b", "p1", amount=50, currency="EUR", kind="new", referred_by="a"),
        raw("cs.purchases", 90, "b", "p2", amount=50, currency="EUR", kind="repeat"),  # after as_of
        b"not json", b'["list"]', b'{"topic": "cs.nope"}', b'{"topic": "cs.tickets", "event_id": "x"}', b"",
    ]


def test_summary_counts_company_figures_and_bad_lines():
    result = replay(lines(), CONFIG, at(30))
    s = result.summary
    assert s["events"] == 6 and s["employee_surveys"] == 2 and s["derived_events"] == 1
    assert s["duplicates"] == 1 and s["late"] == 0 and s["after_as_of"] == 1
    assert s["bad_lines"] == {"count": 4, "reasons": {"missing_field": 1, "not_json": 1, "not_object": 1,
                                                     "unknown_kind": 1}}
    company = s["company"]
    assert (company["nps"]["promoters"], company["nps"]["passives"], company["nps"]["detractors"]) == (1, 1, 1)
    assert company["nps"]["nps"] == 0.0
    assert company["csat"] == {"csat": 50.0, "responses": 2, "satisfied": 1}
    assert company["enps"]["enps"] == 0.0 and company["enps"]["responses"] == 2
    assert s["alerts"]["firing"]["detractor"] == 1
    assert [snap["customer_id"] for snap in result.snapshots] == ["a", "b"]  # no state for employee surveys
    assert s["customers"] == 2
    a = result.snapshots[0]["metrics"]
    assert a["referrals"] == 1 and a["nps"] == 0.0  # employee answers stayed out of customer NPS
    orjson.dumps(result.summary)


def test_default_as_of_is_the_newest_event():
    result = replay(lines(), CONFIG)
    assert result.summary["as_of"] == "2024-07-30T12:00:00.000Z" and result.summary["after_as_of"] == 0


def test_bench_reports_throughput_and_memory():
    report = run(events=3000, customers=300, days=30)
    assert report["events_per_s"] > 0 and report["peak_rss_mb"] > 0 and report["mean_state_bytes"] < 4096


def test_replay_refuses_what_the_worker_would_refuse_against_its_clock():
    now = at(10)
    ahead = [raw("cs.surveys", 10 + 1 / 24, "a", "f1", kind="nps", score=1),   # 1 h ahead: the limit, kept
             raw("cs.surveys", 10 + 2 / 24, "a", "f2", kind="nps", score=1)]   # 2 h ahead: refused
    result = replay(lines() + ahead, CONFIG, at(30), now_ms=now)
    # f2 and p2 (day 90, 80 days ahead of the clock) are refused, not merely after as_of.
    assert result.summary["bad_lines"]["reasons"]["future_event"] == 2
    assert result.summary["events"] == 7 and result.summary["after_as_of"] == 0
    unchecked = replay(lines() + ahead, CONFIG, at(30))  # no clock: nothing is ahead of it
    assert "future_event" not in unchecked.summary["bad_lines"]["reasons"]
    assert unchecked.summary["events"] == 8 and unchecked.summary["after_as_of"] == 1
    wide = replay(lines() + ahead, CONFIG, at(30), now_ms=now, max_skew_ms=3 * 3_600_000)
    assert wide.summary["events"] == 8 and wide.summary["bad_lines"]["reasons"]["future_event"] == 1


def test_replay_returns_the_health_changes_with_their_ids():
    result = replay(lines(), CONFIG, at(30))
    changes = result.changes
    assert changes and len(changes) == result.health_changes == result.summary["health_changes"]
    assert changes == sorted(changes, key=lambda c: (c["occurred_at"], c["customer_id"]))
    assert len({c["change_id"] for c in changes}) == len(changes)
    assert {c["customer_id"] for c in changes} == {"a", "b"}
    counted = replay(lines(), CONFIG, at(30), with_changes=False)  # the bench's faster mode
    assert counted.changes == [] and counted.health_changes == len(changes)
    assert counted.snapshots == result.snapshots and counted.alerts == result.alerts
