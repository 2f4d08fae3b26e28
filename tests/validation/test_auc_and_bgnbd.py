"""AUC and the BG/NBD model by hand: the figures cshealth validate rests on."""
import math
import random

import pytest

from handlers.metrics.bgnbd import Params, _hyp2f1, expected, log_likelihood, p_alive
from streams.validation.auc import auc
from streams.validation.bgnbd_fit import fit


@pytest.mark.parametrize("scores, labels, expected_auc", [
    ([1, 2, 3, 4], [False, False, True, True], 1.0),
    ([4, 3, 2, 1], [False, False, True, True], 0.0),
    ([1, 1, 1, 1], [False, True, False, True], 0.5),          # all tied: chance
    ([1, 2, 2, 3], [False, False, True, True], 0.875),        # pairs (2,1) (2,2)=1/2 (3,1) (3,2): 3.5 of 4
])
def test_auc_counts_pairs_and_half_ties(scores, labels, expected_auc):
    assert auc(scores, labels) == pytest.approx(expected_auc)


def test_auc_needs_both_classes():
    assert auc([1, 2], [True, True]) is None


@pytest.mark.parametrize("z", [0.1, 0.5, 0.9])
def test_hypergeometric_series_against_closed_forms(z):
    assert _hyp2f1(1, 1, 2, z) == pytest.approx(-math.log(1 - z) / z, rel=1e-9)
    assert _hyp2f1(0.5, 1, 1, z) == pytest.approx((1 - z) ** -0.5, rel=1e-9)


P = Params(0.25, 33.0, 0.75, 2.2)


def test_bgnbd_reads_recency_and_frequency_the_right_way():
    # more repeat purchases over the same span: more expected
    assert expected(90, 5, 100, 120, P) > expected(90, 1, 100, 120, P)
    # the same history, a longer silence since: fewer expected, less likely alive
    assert expected(90, 3, 60, 200, P) < expected(90, 3, 60, 70, P)
    assert p_alive(3, 60, 200, P) < p_alive(3, 60, 70, P) < 1.0
    assert p_alive(0, 0, 300, P) == 1.0  # no repeat purchase yet: no dropout possible in the model


def test_bgnbd_expected_for_a_new_customer_matches_the_population_mean():
    # without dropout (a -> 0) the expectation of a new customer is r / alpha * h
    assert expected(30, 0, 0, 0, Params(2.0, 10.0, 1e-9, 1.0)) == pytest.approx(2.0 / 10.0 * 30, rel=1e-4)


def test_likelihood_of_a_one_time_buyer_by_hand():
    r, alpha, a, b = P
    # x = 0: Gamma(r) ratio cancels, the beta terms cancel: (alpha / (alpha + T)) ** r
    assert log_likelihood(0, 0, 50, P) == pytest.approx(r * math.log(alpha / (alpha + 50)))


def _simulate(p: Params, customers: int, span: float, rng: random.Random):
    out = []
    for _ in range(customers):
        lam = rng.gammavariate(p.r, 1 / p.alpha)
        drop = rng.betavariate(p.a, p.b)
        t, last, x = 0.0, 0.0, 0
        while True:
            t += rng.expovariate(lam) if lam > 0 else math.inf
            if t > span:
                break
            x, last = x + 1, t
            if rng.random() < drop:
                break
        out.append((x, last, span))
    return out


def test_fit_recovers_the_parameters_it_was_simulated_with():
    true = Params(0.6, 20.0, 0.8, 3.0)
    data = _simulate(true, 4000, 270.0, random.Random(5))
    got = fit([(x, round(tx), T) for x, tx, T in data])
    # the fitted model's predictions, not each parameter, are what is identified well
    for h in (30, 90, 270):
        assert expected(h, 0, 0, 0, got) == pytest.approx(expected(h, 0, 0, 0, true), rel=0.15)
    assert got.r / got.alpha == pytest.approx(true.r / true.alpha, rel=0.15)
