"""Grafana provisioning and dashboards: structure, datasource, and every
panel query checked against the metric catalogue and the recording rules,
then run through promtool over synthetic series shaped like the worker's."""
from __future__ import annotations

import importlib.util
import json
import re

import pytest

from . import metrics_catalog as catalog
from . import rulefiles
from .grafana_queries import iter_panels, panel_targets, template_variables
from .tools import describe, run

GRAFANA = rulefiles.REPO / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
DATASOURCE_UID = "cshealth-prom"
EXPECTED_UIDS = {"overview.json": "cshealth-overview", "operations.json": "cshealth-ops"}
DASHBOARD_FILES = sorted(DASHBOARD_DIR.glob("*.json"))
RECORDED = {r.name for r in rulefiles.all_rules() if r.kind == "record"}


def load(path):
    return json.loads(path.read_text())


def content_panels(dash):
    return [p for p in iter_panels(dash) if p.get("type") != "row"]


def test_dashboard_files():
    assert {f.name for f in DASHBOARD_FILES} == set(EXPECTED_UIDS)


def test_builder_output_is_current():
    spec = importlib.util.spec_from_file_location("build_dashboards", GRAFANA / "build_dashboards.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    for name, text in builder.render().items():
        assert (DASHBOARD_DIR / name).read_text() == text, (
            f"grafana/dashboards/{name} differs from grafana/build_dashboards.py: "
            "edit the builder and run `.venv/bin/python grafana/build_dashboards.py`")


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=[f.name for f in DASHBOARD_FILES])
def test_dashboard_basics(path):
    dash = load(path)
    assert dash["uid"] == EXPECTED_UIDS[path.name]
    assert dash.get("id") is None, "provisioned dashboards carry id null"
    assert dash["title"].startswith("cshealth / ")
    ids = [p["id"] for p in iter_panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    # grid: inside 24 columns, no two panels overlapping
    cells = set()
    for p in iter_panels(dash):
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['title']!r} overlaps another"
                cells.add((x, y))


def test_uids_and_titles_unique():
    dashes = [load(f) for f in DASHBOARD_FILES]
    assert len({d["uid"] for d in dashes}) == len(dashes)
    assert len({d["title"] for d in dashes}) == len(dashes)


def test_datasource_provisioning():
    text = (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    assert re.search(r"^apiVersion:\s*1\s*$", text, re.M)
    assert re.search(rf"^\s+uid:\s*{DATASOURCE_UID}\s*$", text, re.M)
    assert re.search(r"^\s+type:\s*prometheus\s*$", text, re.M)
    assert re.search(r"^\s+url:\s*http://prometheus:9090\s*$", text, re.M)
    # $__rate_interval must cover >= 4 scrapes of prometheus.yml's interval
    scrape = re.search(r"scrape_interval:\s*(\S+)", rulefiles.PROM_DIR.joinpath("prometheus.yml").read_text())
    assert re.search(rf"^\s+timeInterval:\s*{scrape.group(1)}\s*$", text, re.M)


def test_dashboard_provider():
    text = (GRAFANA / "provisioning" / "dashboards" / "cshealth.yml").read_text()
    assert re.search(r"^\s+type:\s*file\s*$", text, re.M)
    assert re.search(r"^\s+path:\s*/etc/grafana/dashboards\s*$", text, re.M)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=[f.name for f in DASHBOARD_FILES])
def test_every_panel_uses_the_fixed_datasource(path):
    dash = load(path)
    problems = []
    for p in content_panels(dash):
        if (p.get("datasource") or {}).get("uid") != DATASOURCE_UID:
            problems.append(f"panel {p.get('title')!r}: datasource {p.get('datasource')}")
        if not p.get("targets"):
            problems.append(f"panel {p.get('title')!r}: no query")
        for t in p.get("targets") or []:
            if "datasource" in t and (t["datasource"] or {}).get("uid") != DATASOURCE_UID:
                problems.append(f"panel {p.get('title')!r} target {t.get('refId')}: {t['datasource']}")
            if not t.get("expr"):
                problems.append(f"panel {p.get('title')!r} target {t.get('refId')}: empty expr")
    for v in template_variables(dash):
        if v.get("type") == "query" and (v.get("datasource") or {}).get("uid") != DATASOURCE_UID:
            problems.append(f"variable {v['name']}: datasource {v.get('datasource')}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=[f.name for f in DASHBOARD_FILES])
def test_queries_use_known_metrics_and_labels(path):
    problems = []
    for p in content_panels(load(path)):
        for t in p["targets"]:
            for problem in catalog.query_problems(t["expr"], RECORDED):
                problems.append(f"{p['title']!r} {t['refId']}: {problem}\n    {t['expr']}")
            if re.search(r"\[\s*\$__interval\s*\]", t["expr"]):
                problems.append(f"{p['title']!r}: use $__rate_interval, $__interval can be "
                                "shorter than two scrapes")
    assert not problems, "\n".join(problems)


VARIABLES = {
    "overview.json": ("segment", "label_values(cshealth_customers, segment)"),
    "operations.json": ("instance", 'label_values(up{job="cshealth"}, instance)'),
}


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=[f.name for f in DASHBOARD_FILES])
def test_template_variable(path):
    name, query = VARIABLES[path.name]
    (var,) = template_variables(load(path))
    assert var["name"] == name and var["type"] == "query"
    assert var["query"] == query and var.get("definition") == query
    assert var["includeAll"] is True and var["allValue"] == ".*" and var["multi"] is True
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    metric, label = catalog.selectors(m.group(1)) or [catalog.Selector(m.group(1), ())], m.group(2)
    assert label in catalog.series_labels(metric[0].metric)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=[f.name for f in DASHBOARD_FILES])
def test_variable_filters_every_query_that_can_take_it(path):
    """Every selector on a series that has the variable's label filters by it,
    so picking a segment/worker changes every panel it can."""
    name, _ = VARIABLES[path.name]
    problems = []
    for p in content_panels(load(path)):
        for t in p["targets"]:
            for sel in catalog.selectors(t["expr"]) or []:
                labels = (catalog.recorded_labels(sel.metric) if sel.metric in RECORDED
                          else catalog.series_labels(sel.metric) or {})
                if name in labels and (name, "=~", f"${name}") not in sel.matchers:
                    problems.append(f"{p['title']!r}: {sel.metric} not filtered by ${name}")
            for metric in catalog.metric_names(t["expr"]):
                labels = (catalog.recorded_labels(metric) if metric in RECORDED
                          else catalog.series_labels(metric) or {})
                if name in labels and f"${name}" not in t["expr"]:
                    problems.append(f"{p['title']!r}: {metric} not filtered by ${name}")
    assert not problems, "\n".join(problems)


def _metrics_of(path) -> set[str]:
    return {m for p in content_panels(load(path)) for t in p["targets"]
            for m in catalog.metric_names(t["expr"])}


def test_overview_covers_the_agreed_panels():
    exprs = " ".join(t["expr"] for p in content_panels(load(DASHBOARD_DIR / "overview.json"))
                     for t in p["targets"])
    for needle in ('kind="nps"', 'kind="csat"', "cshealth:company_enps:ratio_7d",
                   "band_segment:cshealth_customers:sum", 'band="red"', "cshealth_alerts_total",
                   "sum by (rule)", 'kind="expansion"', 'kind="contraction"',
                   "segment_kind:cshealth_revenue:increase1h", "cshealth_negative_mentions_total"):
        assert needle in exprs, needle


def test_operations_covers_the_agreed_panels():
    metrics = _metrics_of(DASHBOARD_DIR / "operations.json")
    assert {
        "cshealth_events_consumed_total", "cshealth_event_age_seconds_bucket",
        "cshealth_consumer_lag", "cshealth_dlq_records_total", "cshealth_events_rejected_total",
        "cshealth_rebalances_total", "cshealth_recovery_complete",
        "cshealth_alertmanager_posts_total", "up",
    } <= metrics
    exprs = [t["expr"] for p in content_panels(load(DASHBOARD_DIR / "operations.json")) for t in p["targets"]]
    assert any(e.startswith("histogram_quantile(0.5,") and "event_age" in e for e in exprs)
    assert any(e.startswith("histogram_quantile(0.99,") and "event_age" in e for e in exprs)
    assert any("sum by (reason)" in e and "rejected" in e for e in exprs)


# ------------------------------------------- every query returns data
def _input_series(steps: int) -> list[dict]:
    out = []
    for i, s in enumerate(catalog.synthetic_series(instances=("w1:6066", "10.0.0.7:6066"))):
        k = 1 + i % 7
        kind = s["kind"]
        if kind == "bucket":
            n_buckets = len(catalog._BUCKETS[s["name"][: -len("_bucket")]])
            j = catalog._BUCKETS[s["name"][: -len("_bucket")]].index(s["le"])
            values = f"0+{k * (j + 1)}x{steps}" if j + 1 < n_buckets else f"0+{k * n_buckets}x{steps}"
        elif kind in ("counter", "count", "sum"):
            values = f"0+{k}x{steps}"
        elif kind == "up":
            values = f"1x{steps}"
        elif s["name"] == "cshealth_event_time_watermark_seconds":
            values = f"0+300x{steps}"
        else:
            values = f"{1 + i % 5}x{steps}"
        out.append({"series": catalog.series_selector(s["name"], s["labels"]), "values": values})
    return out


SELECTIONS = {
    "defaults (All)": {},
    "one segment / one worker": {"segment": ["enterprise"], "instance": ["10.0.0.7:6066"]},
    "two segments / two workers": {"segment": ["smb", "mid_market"],
                                   "instance": ["w1:6066", "10.0.0.7:6066"]},
}


@pytest.mark.parametrize("selection", SELECTIONS, ids=list(SELECTIONS))
def test_every_panel_query_returns_data(promtool, tmp_path, selection):
    """Each query becomes an alert `absent(<query>)`; `exp_alerts: []` then
    asserts the query returns at least one sample over series shaped like the
    worker's (2h of 5-minute samples: enough for every window to hold
    several samples, [1d] ones included)."""
    variables = {"__rate_interval": "15m", "__range": "1h", **SELECTIONS[selection]}
    rules, tests, where = [], [], {}
    for path in DASHBOARD_FILES:
        for q in panel_targets(path, variables):
            name = f"Panel_{path.stem}_{q.panel_id}_{q.ref_id}"
            where[name] = f"{path.name} panel {q.panel_id} {q.panel_title!r} {q.ref_id}: {q.expr}"
            rules.append({"alert": name, "expr": f"absent({q.expr})"})
            tests.append({"eval_time": "2h", "alertname": name, "exp_alerts": []})
    # JSON is YAML: no YAML library needed to write promtool files.
    (tmp_path / "panels.yml").write_text(json.dumps(
        {"groups": [{"name": "panel-queries", "rules": rules}]}, indent=1))
    (tmp_path / "panels_test.yml").write_text(json.dumps({
        "rule_files": [str(rulefiles.RULES_DIR / "recording.yml"), str(tmp_path / "panels.yml")],
        "evaluation_interval": "5m",
        "tests": [{"interval": "5m", "input_series": _input_series(2 * 12), "alert_rule_test": tests}],
    }, indent=1))
    proc = run([promtool, "test", "rules", str(tmp_path / "panels_test.yml")], timeout=300)
    if proc.returncode != 0:
        empty = set(re.findall(r"alertname: (Panel_\w+)", proc.stdout + proc.stderr))
        detail = "\n".join(text for name, text in where.items() if name in empty)
        pytest.fail(f"panel queries without data or failing to parse:\n{detail}\n\n{describe(proc)}",
                    pytrace=False)
