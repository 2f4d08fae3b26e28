"""Each alert rule: fires on the transition, resolves when the condition clears, respects cooldown."""
import orjson
import pytest

from handlers.customer import Outputs, advance, apply
from handlers.state import CustomerState

from .builders import CONFIG, account, at, config_with, interaction, mention, nps, purchase, ticket


def run(events, until_day, config=CONFIG, customer="c1"):
    """Fold events in order, advancing the watermark to each event's time; then to until_day."""
    state = CustomerState.new(customer)
    out = Outputs()
    for e in sorted(events, key=lambda e: (e.occurred_at_ms, e.event_id)):
        o = advance(state, e.occurred_at_ms, config)
        out.alerts += o.alerts
        out.health_changes += o.health_changes
        apply(state, e, config)
    o = advance(state, at(until_day + 1, 7), config)  # closes until_day (lateness 6h)
    out.alerts += o.alerts
    out.health_changes += o.health_changes
    return state, out


def of(out, rule):
    return [(a["status"], a["occurred_at"][:10]) for a in out.alerts if a["rule"] == rule]


def test_detractor_fires_resolves_and_cooldown_suppresses_a_quick_repeat():
    events = [nps(2, 0), nps(9, 2), nps(3, 5), nps(10, 40), nps(0, 50)]
    _, out = run(events, 60)
    # day 5 is within the 30-day cooldown of day 0: tracked, not paged (and no resolve for it)
    assert of(out, "detractor") == [("firing", "2024-05-01"), ("resolved", "2024-05-03"), ("firing", "2024-06-20")]
    first = [a for a in out.alerts if a["rule"] == "detractor"]
    assert first[0]["alert_id"] == first[1]["alert_id"] != first[2]["alert_id"]  # resolve pairs with its firing
    assert first[0]["severity"] == "warning" and first[0]["evidence"]["last_nps_score"] == 2


def test_detractor_pages_only_strong_detractors():
    _, out = run([nps(6, 0), nps(5, 10)], 15)
    assert of(out, "detractor") == []  # 5-6 count as detractors in NPS, but are not paged
    _, out = run([nps(6, 0), nps(4, 10)], 15)
    assert of(out, "detractor") == [("firing", "2024-05-11")]
    _, out = run([nps(6, 0)], 5, config_with(alerts={"detractor": {"max_score": 6}}))
    assert of(out, "detractor") == [("firing", "2024-05-01")]


def test_entered_red_after_dwell_and_resolved_when_leaving_red():
    cfg = config_with(only=("nps",))
    events = [nps(10, 0, event_id=f"p{i}") for i in range(4)] + [nps(0, 10, event_id=f"d{i}") for i in range(10)]
    events += [nps(10, 30, event_id=f"q{i}") for i in range(30)]
    state, out = run(events, 40, cfg)
    red = [a for a in out.alerts if a["rule"] == "entered_red"]
    assert [(a["status"], a["occurred_at"][:10]) for a in red] == [("firing", "2024-05-12"), ("resolved", "2024-06-01")]
    assert red[0]["severity"] == "critical" and red[0]["evidence"]["health"]["band"] == "red"
    assert red[0]["evidence"]["interval"][1] < cfg.bands.red_enter  # the whole interval below the threshold
    bands = [c["band"] for c in out.health_changes]
    assert bands[0] == "green" and "red" in bands and state.band == "green"


def test_one_bad_answer_cannot_turn_a_customer_red():
    cfg = config_with(only=("nps",))
    _, out = run([nps(0, 0)], 10, cfg)  # one detractor: score ~33, but its interval reaches above 48
    assert of(out, "entered_red") == []


def _fast_fall(n: int = 4):
    # n promoters, then n detractors three days later: NPS from +100 to 0
    return [nps(10, 0, event_id=f"p{i}") for i in range(n)] + [nps(3, 3, event_id=f"d{i}") for i in range(n)]


def test_score_drop_fires_on_a_fast_fall_beyond_the_interval_out_of_green():
    cfg = config_with(only=("nps",), alerts={"score_drop": {"points": 15.0}})
    _, out = run(_fast_fall(8), 6, cfg)
    drops = [a for a in out.alerts if a["rule"] == "score_drop" and a["status"] == "firing"]
    # the score falls on day 3; the band leaves green after the 2-day dwell, on day 4
    assert len(drops) == 1 and drops[0]["occurred_at"].startswith("2024-05-05")
    ev = drops[0]["evidence"]
    assert ev["drop_beyond_interval"] >= 15.0 and ev["peak"] > ev["interval"][1] > ev["score"] and ev["band"] == "yellow"


def test_score_drop_is_not_paged_while_the_customer_is_still_green():
    wide_green = {"green_enter": 45.0, "green_exit": 40.0, "red_enter": 10.0, "red_exit": 15.0}
    cfg = config_with(only=("nps",), bands=wide_green, alerts={"score_drop": {"points": 15.0}})
    _, out = run(_fast_fall(8), 6, cfg)
    assert of(out, "score_drop") == []  # ~50 is still green here
    cfg = config_with(only=("nps",), bands=wide_green, alerts={"score_drop": {"points": 15.0, "out_of_green": False}})
    _, out = run(_fast_fall(8), 6, cfg)
    assert of(out, "score_drop") == [("firing", "2024-05-04")]  # on the day of the fall


def test_thin_evidence_cannot_page_a_score_drop():
    # the same fall on one answer each: the interval is wide, so the fall is within the uncertainty
    cfg = config_with(only=("nps",), alerts={"score_drop": {"points": 15.0, "out_of_green": False}})
    _, out = run(_fast_fall(1), 6, cfg)
    assert of(out, "score_drop") == []


def test_negative_mention_spike_fires_and_resolves_when_the_window_passes():
    events = [mention(-0.6, 10), mention(-0.3, 10), mention(text="awful outage", day=10), mention(0.5, 11)]
    _, out = run(events, 20)
    assert of(out, "negative_mention_spike") == [("firing", "2024-05-11"), ("resolved", "2024-05-18")]


def test_no_spike_when_negatives_are_usual_for_this_customer():
    usual = [mention(-0.5, d) for d in range(-27, -6, 2)]  # ~11 in the 28-day baseline: 2.75 per week
    _, out = run(usual + [mention(-0.5, 10), mention(-0.5, 10), mention(-0.5, 10)], 12)
    assert [a for a in out.alerts if a["rule"] == "negative_mention_spike" and a["occurred_at"] >= "2024-05-11"] == []


def test_recurring_issue_per_category_with_dedupe_key():
    events = [ticket(f"t{i}", "opened", "billing", i + 1, "high") for i in range(3)]
    events += [ticket("x", "opened", "login", 2, "urgent")]
    _, out = run(events, 35)
    rec = [a for a in out.alerts if a["rule"] == "recurring_issue"]
    # fires with the third high-priority billing ticket (day 3); resolves when day 1 leaves the 14-day window
    assert [(a["status"], a["occurred_at"][:10]) for a in rec] == [("firing", "2024-05-04"), ("resolved", "2024-05-16")]
    assert rec[0]["dedupe_key"] == "c1/recurring_issue/billing" and rec[0]["evidence"]["tickets"] == 3
    assert rec[0]["evidence"]["window_days"] == 14


def test_recurring_issue_ignores_spread_out_or_routine_tickets():
    spread = [ticket(f"t{i}", "opened", "billing", 7 * i, "high") for i in range(3)]  # 3 in 15 days
    routine = [ticket(f"h{i}", "opened", "how_to", 20 + i) for i in range(4)]  # normal priority
    _, out = run(spread + routine, 40)
    assert of(out, "recurring_issue") == []
    _, out = run(routine, 40, config_with(alerts={"recurring_issue": {"priorities": []}}))
    assert of(out, "recurring_issue")[0] == ("firing", "2024-05-23")  # counting every priority


def test_silence_beyond_four_weeks_and_resolved_by_contact():
    events = [interaction("inbound", "call", d) for d in range(0, 21, 2)] + [purchase(10, day=52)]
    _, out = run(events, 55)
    # mean gap 2 -> 4 x 2 = 8 < min_days 28: silent from day 49 (29 days after day 20)
    assert of(out, "silence") == [("firing", "2024-06-19"), ("resolved", "2024-06-22")]


def test_silence_threshold_follows_a_slow_customers_rhythm():
    events = [interaction("inbound", "call", d) for d in range(0, 71, 10)]
    _, out = run(events, 115)
    assert of(out, "silence") == [("firing", "2024-08-20")]  # 4 x mean gap 10 = 40 days after day 70


def test_silence_on_a_rhythm_of_few_gaps_takes_a_larger_multiple():
    events = [interaction("inbound", "call", d) for d in (0, 10, 20, 30)]  # 3 gaps < min_gaps
    _, out = run(events, 100)
    # 3 x ((1 + 4/6) ** 2 - 1) = 5.33 mean gaps = 53.3 days: first past it 54 days after day 30
    assert of(out, "silence") == [("firing", "2024-07-24")]


def test_silence_of_a_sparse_buyer_waits_for_its_rhythm_within_the_baseline():
    events = [interaction("inbound", "call", d) for d in (0, 50)]  # one gap of 50 days: 20.4 x is past 180
    _, out = run(events, 240)
    assert of(out, "silence") == [("firing", "2024-05-30"),  # one active day: min_days 28
                                  ("resolved", "2024-06-20"),  # active again on day 50
                                  ("firing", "2024-12-18")]  # capped at the 180-day baseline: day 50 + 181


def test_stalled_onboarding_pages_when_the_onboarding_time_is_over():
    signed = [account(0, signed_up_at=at(0)), ticket("t1", "opened", "onboarding", 2)]
    _, out = run(signed, 25)
    assert of(out, "silence") == [("firing", "2024-05-15")]  # not activated 14 days after signing up
    busy = signed + [interaction("inbound", "call", d) for d in range(3, 25)]
    _, out = run(busy, 25)
    assert of(out, "silence") == [("firing", "2024-05-15")]  # busy or not: onboarding has stalled
    activated = [account(0, signed_up_at=at(0), activated_at=at(1)), ticket("t1", "opened", "onboarding", 2)]
    _, out = run(activated, 25)
    assert of(out, "silence") == []


def test_cancellation_critical_and_resolved_when_withdrawn():
    events = [account(0, owner="ann", segment="smb"), account(5, cancelled_at=at(5)), account(8, cancelled_at=None)]
    _, out = run(events, 10)
    assert of(out, "cancellation") == [("firing", "2024-05-06"), ("resolved", "2024-05-09")]
    alert = [a for a in out.alerts if a["rule"] == "cancellation"][0]
    assert alert["severity"] == "critical" and alert["owner"] == "ann" and alert["segment"] == "smb"


def test_alert_record_shape_is_complete_and_json_serialisable():
    _, out = run([account(0, owner="ann", segment="smb"), nps(1, 1)], 3)
    alert = next(a for a in out.alerts if a["rule"] == "detractor")
    for key in ("alert_id", "customer_id", "rule", "severity", "status", "occurred_at", "evidence", "owner",
                "segment", "summary", "suggested_action", "runbook", "dedupe_key", "config_version"):
        assert key in alert
    assert alert["status"] == "firing" and alert["occurred_at"] == "2024-05-02T23:59:59.999Z"
    assert alert["evidence"]["health"]["components"]["nps"]["score"] is not None
    assert orjson.loads(orjson.dumps(alert)) == alert


def test_disabled_rule_never_fires():
    cfg = config_with(alerts={"detractor": {"enabled": False}})
    _, out = run([nps(0, 0)], 3, cfg)
    assert of(out, "detractor") == []


@pytest.mark.parametrize("hours_after_midnight, closed", [(5.9, False), (6.0, True)])
def test_tick_closes_only_after_allowed_lateness(hours_after_midnight, closed):
    state = CustomerState.new("c1")
    apply(state, nps(0, 0), CONFIG)
    out = advance(state, at(1, hours_after_midnight), CONFIG)
    assert bool(out.health_changes) is closed
    assert (state.cursor is not None and state.cursor >= at(0) // 86_400_000) is closed
