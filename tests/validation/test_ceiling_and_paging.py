"""The CDNOW ceiling's logistic regression and the quiet-churner paging cost, by hand."""
import math
import random
from datetime import date

import pytest

from streams.validation import cdnow
from streams.validation.auc import auc
from streams.validation.ceiling import cross_validated, fit_logistic, purchase_features, standardise
from streams.validation.paging import MONTH_DAYS, quiet_paging_cost


def test_logistic_fit_recovers_the_coefficients_it_was_simulated_with():
    rng, true = random.Random(3), [-0.5, 1.2, -0.8]
    X, y = [], []
    for _ in range(6000):
        row = [1.0, rng.gauss(0, 1), rng.gauss(0, 1)]
        z = sum(b * v for b, v in zip(true, row))
        X.append(row)
        y.append(rng.random() < 1 / (1 + math.exp(-z)))
    got = fit_logistic(X, y)
    assert got == pytest.approx(true, abs=0.1)
    # a strong ridge shrinks the slopes toward 0, never the intercept's role
    shrunk = fit_logistic(X, y, ridge=1e5)
    assert all(abs(s) < 0.1 for s in shrunk[1:])


def test_cross_validated_predictions_rank_a_separable_set_perfectly():
    rng = random.Random(1)
    raw = [[x, rng.gauss(0, 1)] for x in range(200)]
    rng.shuffle(raw)
    y = [row[0] >= 100 for row in raw]
    pred = cross_validated(standardise(raw), y, folds=5)
    assert auc(pred, y) > 0.99
    # a feature unrelated to the outcome alone ranks at chance, out of sample
    noise = cross_validated(standardise([[row[1]] for row in raw]), y, folds=5)
    assert auc(noise, y) < 0.65


def test_standardise_centres_scales_and_adds_the_intercept():
    X = standardise([[1.0, 5.0], [3.0, 5.0]])
    assert X == [[1.0, -1.0, 0.0], [1.0, 1.0, 0.0]]  # a constant column reads 0


def test_purchase_features_by_hand(tmp_path):
    p = tmp_path / "CDNOW_master.txt"
    p.write_text(""" customer_id  date number_of_cds  dollar_value
 00002 19970112  1   12.00
 00002 19970112  5   77.00
 00002 19970301  1   10.00
 00003 19970801  2   20.76
 00003 19971105  1   15.00
""")
    f = purchase_features(cdnow.read(p))
    # two purchase days 48 days apart, the last 214 days before 1997-10-01, $99 in all
    assert f["cdnow-00002"] == pytest.approx([214, 1, 262, math.log(100), 0, 214 / 49])
    # one purchase day (before the cut-off) 61 days ago: inside the last 13 weeks; no gap yet
    assert f["cdnow-00003"] == pytest.approx([61, 0, 61, math.log1p(20.76), 1, 61])
    assert date(1997, 10, 1).toordinal() - date(1997, 8, 1).toordinal() == 61


TRUTH = [{"customer_id": "h1", "story": "healthy"}, {"customer_id": "h2", "story": "healthy"},
         {"customer_id": "h3", "story": "healthy"}, {"customer_id": "n1", "story": "noisy_healthy"},
         {"customer_id": "q1", "story": "quiet_churner"}, {"customer_id": "q2", "story": "quiet_churner"},
         {"customer_id": "q3", "story": "quiet_churner"}]
DAYS = {"h1": {0, 2, 4, 6, 8, 18},      # gaps 2 2 2 2 10, mean 3.6: the long one is 2.78 mean gaps
        "h2": {0, 3, 6, 9, 12},         # gaps 3 3 3 3: each 1.0 mean gap
        "h3": {0, 50, 100},             # too few gaps to have a rhythm
        "n1": {0, 40, 41, 42, 43},      # not a healthy story
        "q1": {10, 14, 18, 22, 40},     # turns on day 24: a day later 3 days quiet, 0.75 mean gaps
        "q2": {0, 2, 4},                # turns on day 6: 3 days quiet, 1.5 mean gaps
        "q3": {1, 2}}                   # too few gaps before its turn
TURNS = {"q1": 24, "q2": 6, "q3": 5}


def test_paging_cost_by_hand():
    got = quiet_paging_cost(DAYS, TRUTH, TURNS)
    months = (18 + 12) / MONTH_DAYS
    assert got["quiet_churners"] == 2
    assert got["multiple_day_after_turn"] == pytest.approx(1.125)  # median of 0.75 and 1.5
    assert got["healthy_customers_months"] == pytest.approx(months)
    assert got["healthy_paged_share"] == pytest.approx(1 / months)  # only h1's gap of 10 exceeds 1.125
    # a budget of 2 % of under one month allows no page: above the longest gap, 2.78 -> 2.8
    assert got["budget_multiple"] == pytest.approx(2.8)
    assert got["healthy_paged_share_at_budget_multiple"] == 0
    # paged at 2.8 mean gaps: q1 on day 22 + 11.2 (9.2 after its turn), q2 on day 4 + 5.6 (3.6 after)
    assert got["quiet_days_to_alert_at_budget_multiple"] == pytest.approx((9.2 + 3.6) / 2)


def test_paging_budget_multiple_is_the_smallest_that_stays_under_budget():
    months = (18 + 12) / MONTH_DAYS
    got = quiet_paging_cost(DAYS, TRUTH, TURNS, budget=1.5)  # fewer than 1.48 pages: at most 1
    assert got["budget_multiple"] == pytest.approx(1.0)  # above 1.0 only h1's long gap pages
    assert got["healthy_paged_share_at_budget_multiple"] == pytest.approx(1 / months)
    # room for five pages (5.43): above h1's short gaps (0.56 -> 0.6), all five longer gaps page
    wide = quiet_paging_cost(DAYS, TRUTH, TURNS, budget=5.5)
    assert wide["budget_multiple"] == pytest.approx(0.6)
    assert wide["healthy_paged_share_at_budget_multiple"] == pytest.approx(5 / months)
