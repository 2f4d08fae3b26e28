"""The validation's data handling by hand, and one small run of its measures."""
from datetime import date

import pytest

from handlers.config import load_config
from streams.validation import cdnow, report, run

SAMPLE = """ customer_id  date number_of_cds  dollar_value
 00001 19970101  1   11.77
 00002 19970112  1   12.00
 00002 19970112  5   77.00
 00002 19970301  1   10.00
 00003 19970102  2   20.76
 00003 19971105  1   15.00
 00004 19971201  1   9.99
"""


@pytest.fixture
def rows(tmp_path):
    p = tmp_path / "CDNOW_master.txt"
    p.write_text(SAMPLE)
    return cdnow.read(p)


def test_cdnow_events_outcomes_and_histories(rows):
    events = cdnow.events(rows)
    # calibration only (before 1997-10-01); first purchase new, later ones repeat
    assert [(e["customer_id"], e["kind"]) for e in events] == [
        ("cdnow-00001", "new"), ("cdnow-00003", "new"), ("cdnow-00002", "new"), ("cdnow-00002", "repeat"),
        ("cdnow-00002", "repeat")]
    assert cdnow.outcomes(rows) == {"cdnow-00001": False, "cdnow-00002": False, "cdnow-00003": True}
    # purchase days, not lines: customer 2 bought on 2 days (x = 1), 48 days apart
    end = date(1997, 10, 1).toordinal()
    assert cdnow.histories(rows)["cdnow-00002"] == (1, 48.0, float(end - date(1997, 1, 12).toordinal()))


def test_cdnow_download_is_refused_when_the_file_differs(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "CDNOW_master.txt").write_text("not the data\n")
    calls = []

    class Failed:
        returncode, stdout, stderr = 1, "", "no network"

    monkeypatch.setattr(cdnow.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or Failed())
    with pytest.raises(cdnow.DataError, match="no network"):
        cdnow.path(cache)  # a wrong cached file is not trusted: it fetches again (here: fails)
    assert calls and calls[0][-1] == "lifetimes==0.11.3" and "--no-deps" in calls[0]


def test_a_small_simulator_run_meets_the_semantics_goals():
    config = load_config()
    sim = run.simulator(config, customers=300, days=90, seed=5, cutoff_share=0.75)
    assert sim["contrary_parts"]["parts"] > 0 and sim["contrary_parts"]["contrary"] == 0
    assert sim["alerts"]["recall"]["sour"] == 1.0 and sim["alerts"]["recall"]["stalled_onboarding"] == 1.0
    assert sim["healthy_rate"] <= 0.5
    assert sim["auc"]["score"] > 0.8
    q = sim["quiet_paging_cost"]
    assert q["quiet_churners"] > 0 and q["multiple_day_after_turn"] < q["budget_multiple"]
    assert q["healthy_paged_share"] > q["budget"] > q["healthy_paged_share_at_budget_multiple"]
    rows = report.checks(sim, None)
    assert any(name.startswith("healthy: health changes") and ok for name, _, _, ok in rows)
    assert "| measure | value | goal | met |" in report.table(rows)


def test_the_report_sets_the_score_beside_the_cdnow_ceiling():
    config = load_config()
    sim = run.simulator(config, customers=120, days=60, seed=7, cutoff_share=0.75)
    real = {"auc": {"score": 0.763, "recency": 0.759, "bgnbd": 0.762}, "new_above_prior": {"above_prior": 0},
            "ceiling": {"folds": 5, "features": ["a", "b"], "cv_auc": 0.772}}
    rows = {name: (value, goal, ok) for name, value, goal, ok in report.checks(sim, real)}
    value, goal, ok = rows["real history AUC: ceiling (5-fold CV logistic on 2 purchase features, fitted on the outcomes)"]
    assert value == "0.772" and "0.779" in goal and ok is None  # the reference is no goal of its own
    assert rows["real history AUC: score vs ceiling"][0] == "-0.009"
