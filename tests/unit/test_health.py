"""Score, components, uncertainty, decay, explanation, bands."""
import pytest

from handlers import bands
from handlers.customer import advance, snapshot
from handlers.config import COMPONENTS
from handlers.metrics import nps as nps_family
from handlers.score import Component, attribute, combine, explain, half_width, unknown

from .builders import CONFIG, D0, account, at, config_with, csat, fold_all, nps, purchase, ticket


def comps(**scores):
    return {n: (Component(scores[n], {}) if n in scores else unknown()) for n in COMPONENTS}


W = 115.0  # the default weights: nps 20, csat 10, ces 5, sentiment 10, support 15, silence 15, the others 10


def test_no_evidence_reads_the_prior_and_unknown_components_keep_their_weight():
    score, contrib = combine(comps(), CONFIG)
    assert score == pytest.approx(50.0) and set(contrib) == set(COMPONENTS)
    score, contrib = combine(comps(nps=0.0, support=100.0), CONFIG)
    # the eight unknown components stand at their prior 50 with their own weights
    assert score == pytest.approx((20 * 0 + 15 * 100 + (W - 35) * 50) / W)
    assert sum(contrib.values()) == pytest.approx(score)
    cfg = config_with(only=("nps", "csat"), priors={"nps": 80.0})
    assert combine(comps(), cfg)[0] == pytest.approx((80 + 50) / 2)


@pytest.mark.parametrize("reading", [0.0, 30.0, 49.0, 51.0, 70.0, 100.0])
def test_a_component_becoming_known_moves_the_score_toward_its_reading(reading):
    before, _ = combine(comps(nps=30.0), CONFIG)
    after, _ = combine(comps(nps=30.0, csat=reading), CONFIG)
    # csat's prior is 50: a reading above it never lowers the score, one below never raises it
    assert after - before == pytest.approx(10 * (reading - 50) / W)
    parts = attribute({"nps": 30.0}, {"nps": 30.0, "csat": reading}, CONFIG)
    assert parts["csat"] == pytest.approx(after - before) and parts["nps"] == 0


def test_snapshot_of_a_new_customer_sits_at_the_prior_with_a_wide_interval():
    state = fold_all([account(0, signed_up_at=at(0)), purchase(100, day=0)])
    health = snapshot(state, at(0, 20), CONFIG)["health"]
    # signed up today (lifecycle at its prior), one purchase day today (purchases and activity at theirs)
    assert health["score"] == 50.0 == health["prior"]
    assert health["components"]["purchases"]["score"] == 50.0 and health["components"]["silence"]["score"] == 50.0
    lo, hi = health["interval"]
    assert lo < 50.0 < hi and hi - lo > 15
    assert "nps" in health["unknown"] and health["components"]["nps"]["contribution"] == pytest.approx(20 * 50 / W, abs=0.01)
    assert health["config_version"] == CONFIG.version


def test_interval_is_hand_computed_and_narrows_with_evidence():
    z = 1.2815515655446004  # the 90th percentile: an 80 % central interval
    sd0 = 25.0
    # nothing known: sqrt(sum (w/W)^2) x 25 = sqrt(1475) / 115 x 25
    assert half_width(comps(), CONFIG) == pytest.approx(z * sd0 * 1475 ** 0.5 / W)
    one = {**comps(), "nps": Component(60.0, {}, evidence=1)}   # 1 answer: sd 25 x sqrt(2/3)
    ten = {**comps(), "nps": Component(60.0, {}, evidence=10)}  # 10 answers: sd 25 x sqrt(2/12)
    var = lambda sd_nps: (1475 - 400) * sd0 ** 2 + 400 * sd_nps ** 2  # noqa: E731
    assert half_width(one, CONFIG) == pytest.approx(z * var(sd0 * (2 / 3) ** 0.5) ** 0.5 / W)
    assert half_width(ten, CONFIG) == pytest.approx(z * var(sd0 * (2 / 12) ** 0.5) ** 0.5 / W)
    assert half_width(ten, CONFIG) < half_width(one, CONFIG) < half_width(comps(), CONFIG)


def test_a_fading_component_names_its_drift_instead_of_its_old_figure():
    state = fold_all([nps(10, 0)])
    comp = nps_family.components(state, D0 + 40, CONFIG)["nps"]
    # the answer (day D0) came after the last record (D0 - 1): the note gives its figure
    assert comp.why(D0 - 1) == "latest answer 10 (promoter), NPS +100 on 1"
    # nothing new since the last record (D0 or later): only decay moved it, and the note says so
    assert comp.why(D0) == comp.why(D0 + 10) == "no NPS answer for 40 days: fading toward neutral"


def test_health_changes_explain_decay_as_decay_and_parts_never_contradict_the_move():
    cfg = config_with(only=("nps", "csat"), bands={"change_step": 1.0, "rise_step": 1.0})
    state = fold_all([csat(5, 0), csat(5, 0)], cfg)
    first = advance(state, at(1, 7), cfg).health_changes
    assert first[0]["previous_score"] is None and first[0]["explanation"].startswith("+")
    assert "new, from prior 50.0" in first[0]["explanation"] and first[0]["delta"] > 0
    later = advance(state, at(60, 7), cfg).health_changes
    assert later, "the CSAT reading decays toward its prior"
    for change in later:
        part = change["delta_by_component"]["csat"]
        assert part < 0 and "fading toward neutral" in change["explanation"]
        assert "CSAT" in change["explanation"] and "100%" not in change["explanation"]


def test_nps_component_shrinks_toward_neutral_and_decays_with_half_life():
    state = fold_all([nps(0, 0)])
    # one detractor, prior 2 neutral pseudo-answers: (0*1 + 50*2) / 3
    assert nps_family.components(state, D0, CONFIG)["nps"].score == pytest.approx(100 / 3)
    # 45 days later the answer weighs 0.5: (0 + 100) / 2.5
    assert nps_family.components(state, D0 + 45, CONFIG)["nps"].score == pytest.approx(40.0)
    # but the reported metric stays the plain figure over its window
    assert snapshot(state, at(45), CONFIG)["metrics"]["nps"] == -100.0


def test_below_min_responses_a_survey_component_is_unknown():
    cfg = config_with(uncertainty={"min_responses": 3})
    state = fold_all([nps(0, 0), nps(1, 0)], cfg)
    comp = nps_family.components(state, D0, cfg)["nps"]
    assert comp.score is None and "2 responses" in comp.text


def test_explanation_names_component_deltas_that_sum_to_the_change():
    text, parts = explain(-12.0, {"nps": -8.0, "support": -4.0}, {"nps": "detractor", "support": "recurring billing"})
    assert text == "-12.0 = NPS -8.0 (detractor), support load -4.0 (recurring billing)"
    assert parts == {"nps": -8.0, "support": -4.0}


@pytest.mark.parametrize("before_scores, after_scores", [
    ({"nps": 80.0, "support": 60.0}, {"nps": 40.0, "support": 60.0}),   # same set
    ({"nps": 80.0}, {"nps": 80.0, "support": 20.0}),                    # support becomes known
    ({"nps": 80.0, "support": 20.0}, {"nps": 70.0}),                    # support drops out
    ({"nps": 80.0, "csat": 10.0}, {"nps": 50.0, "support": 100.0}),     # one in, one out
])
def test_attribution_sums_exactly_and_each_part_follows_its_component(before_scores, after_scores):
    before, _ = combine(comps(**before_scores), CONFIG)
    after, _ = combine(comps(**after_scores), CONFIG)
    parts = attribute(before_scores, after_scores, CONFIG)
    assert sum(parts.values()) == pytest.approx(after - before)
    for name, part in parts.items():
        move = after_scores.get(name, 50.0) - before_scores.get(name, 50.0)  # unknown = at the prior
        assert part * move >= 0 and abs(part) == pytest.approx(abs(move) * getattr(CONFIG.weights, name) / W)


def test_a_newly_known_bad_component_is_blamed_and_a_good_one_credited():
    parts = attribute({"nps": 80.0}, {"nps": 80.0, "support": 20.0, "csat": 100.0}, CONFIG)
    assert parts["support"] < 0 < parts["csat"] and parts["nps"] == 0


def test_health_change_carries_breakdown_interval_and_config_version():
    cfg = config_with(only=("nps", "support"))
    state = fold_all([nps(10, 0), nps(10, 0)], cfg)
    first = advance(state, at(1, 6), cfg).health_changes
    assert len(first) == 1 and first[0]["previous_score"] is None
    lo, hi = first[0]["interval"]
    assert lo < first[0]["score"] < hi
    for i in range(3):
        from handlers.customer import apply
        apply(state, ticket(f"t{i}", day=1, priority="high"), cfg)
    change = advance(state, at(2, 6), cfg).health_changes[0]
    assert change["config_version"] == "test"
    parts = change["delta_by_component"]
    assert change["delta"] == pytest.approx(sum(parts.values()), abs=0.2)
    assert parts["support"] < 0 and "support load" in change["explanation"]
    assert change["health"]["components"]["support"]["value"]["recurring"] == {"billing": 3}


class _S:
    band = None
    pending = None


@pytest.mark.parametrize("scores, expected", [
    ([80, 66, 66, 66], ["green", "green", "green", "green"]),     # 66 >= green_exit 65: stays green
    ([80, 60, 80, 60, 80], ["green"] * 5),                        # flapping: dwell never reached
    ([80, 60, 60], ["green", "green", "yellow"]),                 # 2 ticks below exit: yellow
    ([30, 49, 49, 51], ["red"] * 4),                              # < red_exit 52: stays red
    ([30, 53, 53], ["red", "red", "yellow"]),
    ([50, 67, 67, 69, 69], ["yellow", "yellow", "yellow", "yellow", "green"]),
    ([80, 10, 10], ["green", "green", "red"]),
])
def test_band_hysteresis_and_dwell(scores, expected):
    s = _S()
    seen = []
    for x in scores:
        bands.step(s, x, CONFIG.bands)
        seen.append(s.band)
    assert seen == expected


@pytest.mark.parametrize("score, half, expected", [
    (40.0, 7.0, "red"),      # 33-47: all below red_enter 48
    (40.0, 9.0, "yellow"),   # 31-49: the upper end reaches 48, thin evidence does not turn red
    (47.0, 0.5, "red"),
])
def test_red_needs_the_whole_interval_below_the_threshold(score, half, expected):
    assert bands.candidate(None, score, CONFIG.bands, half) == expected


def test_score_none_keeps_band():
    s = _S()
    bands.step(s, None, CONFIG.bands)
    assert s.band is None


def test_revenue_lifecycle_and_support_components_are_continuous_around_their_priors():
    from handlers.metrics import lifecycle, purchases, tickets
    state = fold_all([purchase(100, day=0, contract_value=1000), purchase(100, "expansion", day=95),
                      account(0, signed_up_at=at(0))])
    # NRR (1000 + 100) / 1000 = 1.1: logistic in log NRR, 100% reads the prior 50
    assert purchases.components(state, D0 + 100, CONFIG)["revenue"].score == pytest.approx(100 / (1 + 1.1 ** -6))
    # not activated after 15 of 30 target days: 50 x 30 / 45
    assert lifecycle.components(state, D0 + 15, CONFIG)["lifecycle"].score == pytest.approx(100 / 3)
    quiet = fold_all([account(0, signed_up_at=at(0))])
    busy = fold_all([account(0, signed_up_at=at(0)), ticket("t1", day=5)])
    # 30 days seen: rate (4 + load) / 60 per day against 4 / 30 at the prior: 100 / (1 + rate / prior rate)
    assert tickets.components(quiet, D0 + 30, CONFIG)["support"].score == pytest.approx(100 / 1.5)
    assert tickets.components(busy, D0 + 30, CONFIG)["support"].score == pytest.approx(100 / (1 + 5 / 4 / 2))
    assert tickets.components(quiet, D0, CONFIG)["support"].score == pytest.approx(50.0)  # first day: the prior


def test_a_perfect_csat_answer_raises_the_score_of_a_customer_above_the_prior():
    # the "CSAT -7.4 (CSAT 100% on 1)": a perfect answer lowered a score resting on lifecycle 100
    cfg = config_with(bands={"change_step": 0.5, "rise_step": 0.5})
    state = fold_all([account(0, signed_up_at=at(-400), activated_at=at(-390))], cfg)
    advance(state, at(1, 7), cfg)
    from handlers.customer import apply
    apply(state, csat(5, 2), cfg)
    change = advance(state, at(3, 7), cfg).health_changes[0]
    assert change["occurred_at"].startswith("2024-05-03")  # the answer's day
    assert change["delta_by_component"]["csat"] > 0 and change["delta"] > 0
    assert "CSAT +" in change["explanation"]
