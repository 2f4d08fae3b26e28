"""Score, components, uncertainty, decay, explanation, bands."""
import pytest

from handlers import bands
from handlers.customer import advance, snapshot
from handlers.config import COMPONENTS
from handlers.metrics import nps as nps_family
from handlers.score import Component, attribute, combine, explain, unknown

from .builders import CONFIG, D0, account, at, config_with, fold_all, nps, purchase, ticket


def comps(**scores):
    return {n: (Component(scores[n], {}) if n in scores else unknown()) for n in COMPONENTS}


def test_unknown_components_spread_their_weight():
    score, contrib = combine(comps(nps=0.0, support=100.0), CONFIG)
    assert score == pytest.approx((20 * 0 + 15 * 100) / 35)
    assert set(contrib) == {"nps", "support"} and sum(contrib.values()) == pytest.approx(score)
    assert combine(comps(), CONFIG) == (None, {})


def test_snapshot_reports_rests_on_and_unknown():
    state = fold_all([account(0, signed_up_at=at(0), activated_at=at(1))])
    health = snapshot(state, at(2), CONFIG)["health"]
    assert health["rests_on"] == 1 and health["score"] == 100.0
    assert "nps" in health["unknown"] and "lifecycle" not in health["unknown"]
    assert health["components"]["nps"]["score"] is None and health["components"]["nps"]["contribution"] is None
    assert health["config_version"] == CONFIG.version


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
def test_attribution_sums_exactly_to_the_score_change(before_scores, after_scores):
    before, _ = combine(comps(**before_scores), CONFIG)
    after, _ = combine(comps(**after_scores), CONFIG)
    parts = attribute(before, before_scores, after_scores, CONFIG)
    assert sum(parts.values()) == pytest.approx(after - before)


def test_a_newly_known_bad_component_is_blamed_for_the_drop():
    parts = attribute(80.0, {"nps": 80.0}, {"nps": 80.0, "support": 20.0}, CONFIG)
    assert parts["support"] < 0 and parts["nps"] == 0


def test_health_change_carries_breakdown_and_config_version():
    cfg = config_with(only=("nps", "support"))
    state = fold_all([nps(10, 0), nps(10, 0)], cfg)
    first = advance(state, at(1, 6), cfg).health_changes
    assert len(first) == 1 and first[0]["previous_score"] is None and first[0]["band"] == "green"
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
    ([80, 72, 72, 72], ["green", "green", "green", "green"]),     # 72 >= green_exit 70: stays green
    ([80, 65, 80, 65, 80], ["green"] * 5),                        # flapping: dwell never reached
    ([80, 65, 65], ["green", "green", "yellow"]),                 # 2 ticks below exit: yellow
    ([30, 42, 42, 44], ["red"] * 4),                              # < red_exit 45: stays red
    ([30, 46, 46], ["red", "red", "yellow"]),
    ([50, 74, 74, 76, 76], ["yellow", "yellow", "yellow", "yellow", "green"]),
    ([80, 10, 10], ["green", "green", "red"]),
])
def test_band_hysteresis_and_dwell(scores, expected):
    s = _S()
    seen = []
    for x in scores:
        bands.step(s, x, CONFIG.bands)
        seen.append(s.band)
    assert seen == expected


def test_score_none_keeps_band():
    s = _S()
    bands.step(s, None, CONFIG.bands)
    assert s.band is None


def test_revenue_and_lifecycle_components():
    from handlers.metrics import lifecycle, purchases
    state = fold_all([purchase(100, day=0, contract_value=1000), purchase(100, "expansion", day=95),
                      account(0, signed_up_at=at(0))])
    # NRR at day 100: (1000 + 100) / 1000 = 1.1 -> (1.1 - 0.5) / 0.7 * 100
    assert purchases.components(state, D0 + 100, CONFIG)["revenue"].score == pytest.approx(600 / 7)
    # not activated after 15 of 30 target days: 100 - 50 * 15/30
    assert lifecycle.components(state, D0 + 15, CONFIG)["lifecycle"].score == pytest.approx(75.0)
