"""The panel_queries helper (used by the end-to-end test against a real Prometheus)."""
from __future__ import annotations

import json

import pytest

from .grafana_queries import (BUILTINS, default_variables, interpolate, iter_panels,
                              panel_queries, panel_targets, regex_escape)
from .rulefiles import REPO

DASHBOARDS = sorted((REPO / "grafana" / "dashboards").glob("*.json"))


def dashboard(*exprs, variables=None, nested=()):
    """A minimal dashboard: one panel per expr, plus a collapsed row holding `nested`."""
    panels = [{"id": i, "type": "timeseries", "title": f"p{i}",
               "targets": [{"refId": "A", "expr": e}]} for i, e in enumerate(exprs, 1)]
    if nested:
        panels.append({"id": 100, "type": "row", "title": "row", "collapsed": True,
                       "panels": [{"id": 101 + i, "type": "stat", "title": f"n{i}",
                                   "targets": [{"refId": "A", "expr": e}]}
                                  for i, e in enumerate(nested)]})
    return {"uid": "t", "panels": panels,
            "templating": {"list": variables if variables is not None else [
                {"name": "segment", "type": "query", "includeAll": True, "allValue": ".*",
                 "multi": True, "current": {"value": ["$__all"]}},
                {"name": "instance", "type": "query", "includeAll": True, "multi": True,
                 "current": {"value": ["$__all"]}},
            ]}}


def test_all_variable_forms_are_substituted():
    d = dashboard('a{segment=~"$segment"}', 'b{segment=~"${segment}"}', 'c{segment=~"[[segment]]"}',
                  'd{instance=~"${instance:regex}"}')
    assert panel_queries(d, {"segment": "smb", "instance": "w1:6066"}) == [
        'a{segment=~"smb"}', 'b{segment=~"smb"}', 'c{segment=~"smb"}', 'd{instance=~"w1:6066"}']


def test_defaults_are_all_values_and_builtins():
    d = dashboard('sum(rate(x{segment=~"$segment", instance=~"$instance"}[$__rate_interval]))',
                  "increase(y[$__range]) + z[$__interval]")
    assert panel_queries(d) == [
        'sum(rate(x{segment=~".*", instance=~".*"}[1m]))',
        "increase(y[1h]) + z[15s]",
    ]
    assert default_variables(d) == {"segment": ".*", "instance": ".*"}


def test_builtins_can_be_overridden():
    d = dashboard("rate(x[$__rate_interval])", "increase(x[$__range])")
    assert panel_queries(d, {"__rate_interval": "30s", "__range": "6h"}) == [
        "rate(x[30s])", "increase(x[6h])"]
    assert set(BUILTINS) >= {"__rate_interval", "__interval", "__range"}


def test_list_values_are_formatted_like_grafana():
    d = dashboard('x{segment=~"$segment"}', 'x{segment=~"${segment:pipe}"}', 'x{segment=~"${segment:csv}"}')
    assert panel_queries(d, {"segment": ["enterprise", "smb"]}) == [
        'x{segment=~"(enterprise|smb)"}', 'x{segment=~"enterprise|smb"}', 'x{segment=~"enterprise,smb"}']
    assert panel_queries(d, {"segment": ["smb"]})[0] == 'x{segment=~"smb"}'


def test_regex_escaping_inside_promql_strings():
    # One regex backslash, doubled because it sits in a PromQL "..." string.
    assert regex_escape("10.0.0.1:6066") == "10\\\\.0\\\\.0\\\\.1:6066"
    assert regex_escape("a|b(c)") == "a\\\\|b\\\\(c\\\\)"
    d = dashboard('x{instance=~"$instance"}')
    assert panel_queries(d, {"instance": ["10.0.0.1:6066", "w2:6066"]}) == [
        'x{instance=~"(10\\\\.0\\\\.0\\\\.1:6066|w2:6066)"}']


def test_longer_names_are_not_cut_short():
    d = dashboard("x[$__range_s] + x[$__rate_interval] + x[$__interval_ms]")
    assert panel_queries(d) == ["x[3600] + x[1m] + x[15000]"]


def test_label_replace_references_are_left_alone():
    expr = 'label_replace(up, "host", "$1", "instance", "(.*):.*")'
    assert interpolate(expr, {}) == expr


def test_unknown_variables_fail():
    with pytest.raises(ValueError, match="undefined variable"):
        panel_queries(dashboard('x{team="$team"}'))
    with pytest.raises(ValueError, match="unsupported format"):
        panel_queries(dashboard('x{segment=~"${segment:json}"}'), {"segment": ["a"]})
    with pytest.raises(ValueError, match="empty selection"):
        panel_queries(dashboard('x{segment=~"$segment"}'), {"segment": []})


def test_variable_without_all_uses_its_saved_value():
    d = dashboard('x{env="$env"}', variables=[
        {"name": "env", "type": "custom", "includeAll": False, "current": {"value": "prod"}}])
    assert panel_queries(d) == ['x{env="prod"}']


def test_rows_and_collapsed_panels_are_included_in_order():
    d = dashboard("a", "b", nested=("c", "d"))
    assert panel_queries(d) == ["a", "b", "c", "d"]
    assert [p["id"] for p in iter_panels(d)] == [1, 2, 100, 101, 102]
    assert [(q.panel_title, q.ref_id) for q in panel_targets(d)] == [
        ("p1", "A"), ("p2", "A"), ("n0", "A"), ("n1", "A")]


def test_accepts_paths_and_dicts():
    path = DASHBOARDS[0]
    assert panel_queries(path) == panel_queries(str(path)) == panel_queries(json.loads(path.read_text()))


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_real_dashboards_fully_substituted(path):
    n_targets = sum(len(p.get("targets") or []) for p in iter_panels(path))
    for variables in ({}, {"segment": ["enterprise", "smb"], "instance": ["w1:6066"]}):
        queries = panel_queries(path, variables)
        assert len(queries) == n_targets > 0
        assert not [q for q in queries if "$" in q or "[[" in q]
