"""Hand-computed examples for every snapshot metric (as_of = day offsets from T0)."""
import math

import pytest

from handlers.customer import advance, apply, derived_events, read_metrics
from handlers.lexicon import sentiment

from .builders import (CONFIG, D0, account, at, ces, config_with, csat, fold_all, interaction, mention, nps, purchase,
                       ticket)


def metrics(events, as_of_day, config=CONFIG, customer="c1"):
    return read_metrics(fold_all(events, config, customer=customer), at(as_of_day), config)


def test_nps_counts_value_interval_latest_and_window():
    m = metrics([nps(10, 1), nps(9, 2), nps(8, 3), nps(3, 4), nps(0, 5), nps(10, -100)], 10)
    assert (m["promoters"], m["passives"], m["detractors"], m["nps_responses"]) == (2, 1, 2, 5)
    assert m["nps"] == 0.0
    # adjusted Wald: n'=8, p+=p-=2.75/8, se=sqrt(0.6875/8)=0.29315 -> +-57.46
    assert m["nps_interval"] == [-57.5, 57.5]
    assert m["last_nps_score"] == 0


def test_nps_all_promoters_interval_is_clamped_and_asymmetric():
    m = metrics([nps(9, 1), nps(10, 1)], 2)
    assert m["nps"] == 100.0
    low, high = m["nps_interval"]
    # n'=5, p+=2.75/5=0.55, p-=0.15: diff 0.4, se=sqrt((0.7-0.16)/5)=0.3286 -> (-24.4, 100)
    assert [low, high] == [-24.4, 100.0]


def test_nps_latest_answer_tie_is_order_independent():
    early, later = nps(9, 1), nps(3, 1.5)
    assert metrics([later, early], 2)["last_nps_score"] == metrics([early, later], 2)["last_nps_score"] == 3
    b2 = nps(9, 1)
    # same instant: the higher score wins by the (time, score) rule, whatever the order
    same_a = nps(2, 1, event_id="s1")
    same_b = nps(7, 1, event_id="s2")
    assert metrics([same_a, same_b], 2)["last_nps_score"] == metrics([same_b, same_a], 2)["last_nps_score"] == 7
    assert metrics([b2], 200)["last_nps_score"] is None  # outside the 90-day window


def test_csat_top_two_box_and_ces_mean():
    m = metrics([csat(5, 1), csat(4, 1), csat(3, 2), csat(1, 3), ces(2, 1), ces(6, 2), ces(7, 3), csat(5, -95)], 5)
    assert (m["csat"], m["csat_responses"]) == (50.0, 4)
    assert (m["ces"], m["ces_responses"]) == (5.0, 3)


PURCHASES = [
    purchase(100, "new", 0, contract_value=1200), purchase(50, "repeat", 10), purchase(30, "expansion", 20, contract_value=1500),
    purchase(20, "contraction", 25), purchase(10, "refund", 30),
]


def test_purchase_counts_revenue_clv_and_recency():
    m = metrics(PURCHASES, 40)
    assert (m["purchases"], m["repeat_purchases"]) == (3, 2)
    assert m["revenue"] == m["clv"] == 170.0  # 100 + 50 + 30 - 10 refund
    assert m["mean_order_value"] == 60.0
    assert m["first_purchase_at"] == "2024-05-01T12:00:00.000Z"
    assert m["last_purchase_at"] == "2024-05-21T12:00:00.000Z"
    assert m["purchase_recency_days"] == 20
    # 60 x (3 purchases x 365 / max(40, 90) days) x 3 years
    assert m["predicted_clv"] == pytest.approx(60 * (3 * 365 / 90) * 3, abs=0.01)
    assert m["contract_value"] == 1500
    assert (m["expansion_revenue"], m["contraction_revenue"], m["refunds"]) == (30.0, 20.0, 10.0)
    assert m["net_revenue_retention"] is None  # no contract in force at the window start (day -50)


def test_net_revenue_retention_from_window_start():
    m = metrics(PURCHASES, 100)  # window (day 10, day 100]: start = 1200 (contract of day 0)
    assert m["net_revenue_retention"] == round((1200 + 30 - 20) / 1200, 4)
    assert m["contract_value"] == 1500
    churned = metrics(PURCHASES + [account(60, cancelled_at=at(60))], 100)
    assert churned["net_revenue_retention"] == 0.0


def test_negative_mentions_mean_sentiment_spike_and_lexicon():
    assert sentiment("terrible outage") == round(-2 / math.sqrt(19), 4)
    assert sentiment("not bad at all") > 0 and sentiment("") == 0.0
    events = [mention(-0.5, 10), mention(-0.2, 9), mention(0.3, 8), mention(text="terrible outage", day=7),
              mention(-0.9, -10)]
    m = metrics(events, 10)
    assert m["negative_mentions"] == 3
    assert m["mean_sentiment"] == pytest.approx((-0.5 - 0.2 + 0.3 + sentiment("terrible outage")) / 4, abs=1e-4)
    # baseline: 1 negative in the previous 28 days = 0.25 per 7 days, floored at 1 -> spike 3.0
    assert m["mention_spike"] == 3.0
    many = metrics(events + [mention(-0.6, d) for d in (-2, -5, -8, -11, -14, -17, -20, -23)], 10)
    assert many["mention_spike"] == round(3 / (9 * 7 / 28), 2)


def test_tickets_open_reopened_by_category_and_recurring():
    events = [ticket("t1", "opened", "billing", 1, "high"), ticket("t1", "closed", "billing", 2, "high"),
              ticket("t1", "reopened", "billing", 3, "high"), ticket("t2", "opened", "billing", 4, "urgent"),
              ticket("t3", "opened", "login", 5), ticket("t3", "closed", "login", 6),
              ticket("t4", "closed", "login", 8), ticket("t4", "opened", "login", 7)]  # out of order
    m = metrics(events, 10)
    assert m["open_tickets"] == 2  # t1 reopened, t2 opened
    assert m["reopened_tickets"] == 1
    assert m["tickets_by_category"] == {"billing": 3, "login": 2}
    assert m["recurring_issues"] == {"billing": 3}  # login: 2, and normal priority
    assert metrics(events, 40)["tickets_by_category"] == {}  # out of the 30-day window
    assert metrics(events, 16)["recurring_issues"] == {}  # day 1 left the 14-day burst window
    routine = [ticket(f"h{i}", "opened", "how_to", i) for i in range(4)]  # normal priority: not a burst
    assert metrics(routine, 5)["recurring_issues"] == {}
    every = config_with(alerts={"recurring_issue": {"priorities": []}})
    assert metrics(routine, 5, every)["recurring_issues"] == {"how_to": 4}


def test_contacts_both_ways_ratio_and_deviation_from_own_baseline():
    current = [interaction("inbound", "email", 95), interaction("inbound", "chat", 96), ticket("t1", "opened", day=97),
               interaction("outbound", "call", 98), interaction("outbound", "email", 99)]
    baseline = [interaction("outbound", "email", d) for d in range(-18, 70, 10)]  # 9 in (day -20, day 70]
    m = metrics(current + baseline, 100)
    assert (m["contacts_inbound"], m["contacts_outbound"]) == (3, 2)
    assert m["contact_ratio"] == 1.5
    assert m["contact_baseline"] == 3.0  # 9 per 90 days = 3 per 30 days
    assert m["contact_deviation"] == round((5 - 3) / 3, 3)
    assert metrics(baseline, 100)["contact_deviation"] == -1.0  # went dark


def test_referrals_and_champion():
    credits = [d for c in ("c2", "c3", "c4") for d in derived_events(purchase(10, customer=c, referred_by="c1", day=1))]
    assert [d.customer_id for d in credits] == ["c1"] * 3 and credits[0].event_id.endswith(":referral")
    m = metrics(credits, 5)
    assert (m["referrals"], m["champion"]) == (3, True)
    assert metrics(credits[:1] + [nps(9, 2)], 5)["champion"] is True  # promoter with a referral
    assert metrics(credits[:1] + [nps(5, 2)], 5)["champion"] is False
    assert derived_events(purchase(10, customer="c1", referred_by="c1")) == []  # no self-referral


def test_activation_cancellation_and_profile_last_writer_wins():
    events = [account(5, owner="bob", segment="ent"), account(3, owner="ann", plan="pro"),
              account(0, signed_up_at=at(0, 0), activated_at=at(3, 12)), account(20, cancelled_at=at(20))]
    m = metrics(events, 25)
    assert (m["owner"], m["segment"], m["plan"]) == ("bob", "ent", "pro")
    assert m["activated"] is True and m["time_to_activation_days"] == 3.5
    assert m["cancelled"] is True
    assert metrics(events, 15)["cancelled"] is False
    assert metrics(events + [account(22, cancelled_at=None)], 25)["cancelled"] is False  # withdrawn
    assert metrics([account(0, signed_up_at=at(0))], 5)["activated"] is False


def test_silence_days_count_customer_side_activity_only():
    events = [purchase(10, day=0), ticket("t", day=5), nps(8, 10), interaction("outbound", "email", 25)]
    m = metrics(events, 30)
    assert m["silence_days"] == 20  # the outbound email is not a sign of life
    assert metrics(events + [interaction("outbound", "meeting", 28)], 30)["silence_days"] == 2
    assert metrics([account(0, segment="smb")], 30)["silence_days"] is None


def test_late_events_are_counted_and_still_folded():
    state = fold_all([nps(9, 0)])
    advance(state, at(10), CONFIG)
    assert apply(state, nps(0, 2), CONFIG) is True
    m = read_metrics(state, at(10), CONFIG)
    assert m["late_events"] == 1 and m["detractors"] == 1


def test_purchases_component_is_a_bgnbd_reading_at_its_prior_for_a_first_purchase():
    from handlers.metrics import bgnbd, purchases
    one = fold_all([purchase(50, "new", day=0), purchase(20, "repeat", day=0)])  # one purchase day
    assert purchases.history(one, D0) == (0, D0, D0)
    assert purchases.components(one, D0, CONFIG)["purchases"].score == pytest.approx(50.0)  # no history: the prior
    # the reading falls continuously as the customer stays away, never to a tie at 0
    later = [purchases.components(one, D0 + k, CONFIG)["purchases"].score for k in (10, 60, 200)]
    assert 50.0 > later[0] > later[1] > later[2] > 0.0
    regular = fold_all([purchase(50, "new", day=0)] + [purchase(20, "repeat", day=d) for d in range(10, 61, 10)])
    assert purchases.components(regular, D0 + 60, CONFIG)["purchases"].score > 50.0  # buys every 10 days
    # by hand: 100 E / (E + E0) with E the expected purchase days in 90 days (prior 50: k = 1)
    p, e0 = CONFIG.purchases.params, bgnbd.expected(90, 0, 0, 0, CONFIG.purchases.params)
    e = bgnbd.expected(90, 6, 60.0, 60.0, p)
    assert purchases.components(regular, D0 + 60, CONFIG)["purchases"].score == pytest.approx(100 * e / (e + e0))
    # a tick reads nothing after its day
    assert purchases.history(regular, D0 + 25) == (2, D0, D0 + 20)


def test_activity_component_follows_the_customers_own_rhythm():
    from handlers.metrics import lifecycle
    busy = fold_all([interaction("inbound", "call", d) for d in range(0, 61, 2)])
    first = lifecycle.components(busy, D0, CONFIG)["silence"]
    assert first.score == pytest.approx(50.0)  # one active day, today: the prior
    now = [lifecycle.components(busy, D0 + 60 + k, CONFIG)["silence"] for k in (0, 7, 21)]
    assert now[0].score > 50.0 and now[0].score > now[1].score > now[2].score
    assert now[2].why(D0 + 61) == "quiet for 21 days (usually active every 2.0 days)"
    slow = fold_all([interaction("inbound", "call", d) for d in range(0, 61, 10)])
    # seven days quiet is usual for a customer active every ten days, not for one active every two
    drop_busy = now[0].score - now[1].score
    slow_now = [lifecycle.components(slow, D0 + 60 + k, CONFIG)["silence"].score for k in (0, 7)]
    assert slow_now[0] - slow_now[1] < drop_busy
