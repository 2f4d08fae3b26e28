"""Prometheus config and rules: promtool checks, unit tests and coverage.

A new recording rule or alert without a promtool test fails here.
"""
from __future__ import annotations

import re

import pytest

from . import metrics_catalog as catalog
from . import rulefiles
from streams.devstack.render_config import PROMETHEUS_YML, render_prometheus_config
from .tools import describe, run

RULE_FILES = rulefiles.rule_files()
TEST_FILES = rulefiles.promtool_test_files()
RULES = rulefiles.all_rules()
RECORDS = [r for r in RULES if r.kind == "record"]
ALERTS = [r for r in RULES if r.kind == "alert"]
RECORDED = {r.name for r in RECORDS}
RUNBOOK = rulefiles.PROM_DIR / "RUNBOOK.md"


def test_layout():
    assert [f.name for f in RULE_FILES] == ["alerts.yml", "recording.yml"]
    assert TEST_FILES, "no promtool test files in prometheus/tests/"
    assert RECORDS and ALERTS


# ------------------------------------------------------------------ promtool
def test_check_config_compose(promtool):
    proc = run([promtool, "check", "config", str(PROMETHEUS_YML)])
    assert proc.returncode == 0, describe(proc)
    # the rule files were found and loaded through rule_files
    for f in RULE_FILES:
        assert f"{f.name}" in proc.stdout, describe(proc)
    assert re.search(r"SUCCESS: 2 rule files found", proc.stdout), describe(proc)


@pytest.mark.parametrize("rule_interval", [None, "1s"])
def test_check_config_rendered(promtool, tmp_path, rule_interval):
    cfg = render_prometheus_config(tmp_path, ["127.0.0.1:6066", "127.0.0.1:6067"],
                                   ["127.0.0.1:9093"], scrape_interval="1s",
                                   evaluation_interval="1s", rule_interval=rule_interval)
    text = cfg.read_text()
    assert '["127.0.0.1:6066", "127.0.0.1:6067"]' in text
    assert '["127.0.0.1:9093"]' in text
    assert "worker:6066" not in text and "alertmanager:9093" not in text
    assert "scrape_interval: 1s" in text and "evaluation_interval: 1s" in text
    if rule_interval:
        copied = (tmp_path / "rules" / "recording.yml").read_text()
        assert re.findall(r"^\s+interval:\s*(\S+)", copied, re.M) == ["1s", "1s"]
    proc = run([promtool, "check", "config", str(cfg)])
    assert proc.returncode == 0, describe(proc)
    assert re.search(r"SUCCESS: 2 rule files found", proc.stdout), describe(proc)


def test_check_rules(promtool):
    proc = run([promtool, "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES)])
    assert proc.returncode == 0, describe(proc)
    total = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", proc.stdout))
    assert total == len(RULES), f"promtool saw {total} rules, rulefiles.py read {len(RULES)}"


@pytest.mark.parametrize("test_file", TEST_FILES, ids=[f.name for f in TEST_FILES])
def test_promtool_unit_tests(promtool, test_file):
    proc = run([promtool, "test", "rules", str(test_file)], timeout=300)
    assert proc.returncode == 0, describe(proc)
    assert "SUCCESS" in proc.stdout, describe(proc)


# ------------------------------------------------------------------ coverage
def _test_files():
    return [rulefiles.read_promtool_test(f) for f in TEST_FILES]


def test_test_files_load_every_rule_file():
    for t in _test_files():
        loaded = {(t.path.parent / rf).resolve() for rf in t.rule_files}
        missing = {f.resolve() for f in RULE_FILES} - loaded
        assert not missing, f"{t.path.name} does not load {sorted(m.name for m in missing)}"


def test_every_recording_rule_is_tested():
    tested = set()
    for t in _test_files():
        for expr in t.exprs:
            tested |= catalog.metric_names(expr)
    untested = sorted(RECORDED - tested)
    assert not untested, ("recording rules with no promql_expr_test in prometheus/tests/: "
                          f"{untested}")


def test_every_alert_is_tested_firing_and_not_firing():
    cases = [c for t in _test_files() for c in t.alert_cases]
    fired = {(c.alertname, sev) for c in cases if c.fires for sev in c.severities}
    quiet = {c.alertname for c in cases if not c.fires}
    problems = []
    for alert in ALERTS:
        sev = alert.labels.get("severity")
        if (alert.name, sev) not in fired:
            problems.append(f"{alert.name} (severity={sev}) is never expected to fire")
        if alert.name not in quiet:
            problems.append(f"{alert.name} has no `exp_alerts: []` (not firing) case")
    assert not problems, "\n".join(problems)


def test_tests_only_name_existing_alerts():
    names = {a.name for a in ALERTS}
    unknown = sorted({c.alertname for t in _test_files() for c in t.alert_cases} - names)
    # promtool passes `exp_alerts: []` for a misspelt alert name: catch it here.
    assert not unknown, f"alert tests for alerts that do not exist: {unknown}"


# --------------------------------------------------------------- conventions
_RECORD_NAME = re.compile(r"^[a-z][a-z_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")


def test_recording_rule_names():
    problems = []
    for r in RECORDS:
        if not _RECORD_NAME.match(r.name):
            problems.append(f"{r.name}: not level:metric:operations")
            continue
        level, metric, _ = r.name.split(":")
        if metric.endswith("_total"):
            problems.append(f"{r.name}: drop _total from the metric part after rate/increase")
        if level != "cshealth":
            # the textually first `by (...)` is the outermost aggregation in our rules
            by = re.search(r"\bby\s*\(([^)]*)\)", r.expr)
            kept = {x.strip() for x in by.group(1).split(",")} if by else set()
            if kept != set(level.split("_")):
                problems.append(f"{r.name}: level says {level.split('_')}, first `by` keeps "
                                f"{sorted(kept)}")
    assert not problems, "\n".join(problems)
    assert len(RECORDED) == len(RECORDS), "duplicate recording rule names"


def test_alert_conventions():
    anchors = {re.sub(r"[^a-z0-9_-]", "", h.strip().lower().replace(" ", "-"))
               for h in re.findall(r"^#+\s+(.+)$", RUNBOOK.read_text(), re.M)}
    problems = []
    for a in ALERTS:
        where = f"{a.name} (severity={a.labels.get('severity')})"
        if not re.match(r"^CsHealth[A-Z][A-Za-z0-9]+$", a.name):
            problems.append(f"{where}: team alerts are named CsHealth<CamelCase>")
        if a.labels.get("severity") not in ("critical", "warning"):
            problems.append(f"{where}: severity label must be critical or warning")
        if "customer_id" in a.labels:
            problems.append(f"{where}: team alerts never carry customer_id")
        if not a.has_for:
            problems.append(f"{where}: set `for:` so one bad scrape does not page")
        for key in ("summary", "description", "runbook_url"):
            if not a.annotations.get(key):
                problems.append(f"{where}: missing annotation {key}")
        url = a.annotations.get("runbook_url", "")
        if url:
            path, _, anchor = url.partition("#")
            if path != "prometheus/RUNBOOK.md" or anchor not in anchors:
                problems.append(f"{where}: runbook_url {url!r} has no heading in RUNBOOK.md")
    assert not problems, "\n".join(problems)


def test_rules_use_known_metrics_and_labels():
    problems = [f"{r.name}: {p}" for r in RULES for p in catalog.query_problems(r.expr, RECORDED)]
    assert not problems, "\n".join(problems)


def test_no_per_customer_label_in_rules():
    for r in RULES:
        assert "customer" not in r.expr.replace("cshealth_customers", ""), r.name
        assert "customer_id" not in r.labels, r.name


def test_test_inputs_match_the_catalogue():
    """promtool tests feed the series the worker really exports, so a rule
    tested against a misspelt metric or label value cannot pass."""
    problems = []
    for t in _test_files():
        for sel in t.input_series:
            name, labels = rulefiles.parse_series(sel)
            allowed = catalog.series_labels(name)
            if allowed is None:
                problems.append(f"{t.path.name}: unknown series {name}")
                continue
            for label, value in labels.items():
                if label not in allowed:
                    problems.append(f"{t.path.name}: {name} has no label {label!r}")
                elif allowed[label] is not None and value not in allowed[label]:
                    problems.append(f"{t.path.name}: {name}{{{label}={value!r}}} not in {allowed[label]}")
            missing = set(allowed) - set(labels) - {"le"} - (
                {"job", "instance"} if name == "up" else set())
            if name != "up" and missing:
                problems.append(f"{t.path.name}: {sel} lacks labels {sorted(missing)}")
            if not catalog.valid_label_combination(name, labels):
                problems.append(f"{t.path.name}: {sel}: invalid label combination")
    assert not problems, "\n".join(problems)
