"""Alertmanager config: amtool checks, routing, and grouping/inhibition on a
real Alertmanager (the binary from the Debian package, started on a free
local port; no network beyond 127.0.0.1)."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pytest

from streams.devstack.processes import stop_process
from streams.devstack.render_config import ALERTMANAGER_YML, ONCALL_URL, TEAM_URL, render_alertmanager_config
from streams.kafka.local_broker import free_port
from tests.support.conditions import eventually

from . import metrics_catalog as catalog
from . import rulefiles
from .tools import describe, run

TEAM_ALERTS = [r for r in rulefiles.all_rules() if r.kind == "alert"]


def customer_alertname(rule: str) -> str:
    """The worker's naming: CustomerHealth + rule in CamelCase."""
    return "CustomerHealth" + "".join(part.capitalize() for part in rule.split("_"))


def customer_labels(rule="entered_red", severity="critical", customer_id="c-42",
                    owner="alice", segment="enterprise") -> dict[str, str]:
    return {"alertname": customer_alertname(rule), "rule": rule, "severity": severity,
            "segment": segment, "owner": owner, "customer_id": customer_id}


def route(amtool: str, labels: dict[str, str], config=ALERTMANAGER_YML) -> str:
    proc = run([amtool, "config", "routes", "test", f"--config.file={config}",
                *(f"{k}={v}" for k, v in labels.items())])
    assert proc.returncode == 0, describe(proc)
    return proc.stdout.strip()


def test_check_config(amtool):
    proc = run([amtool, "check-config", str(ALERTMANAGER_YML)])
    assert proc.returncode == 0, describe(proc)
    assert "2 receivers" in proc.stdout and "2 inhibit rules" in proc.stdout, describe(proc)


def test_placeholders_are_the_documented_local_demo_urls():
    text = ALERTMANAGER_YML.read_text()
    assert text.count(ONCALL_URL) == 1 and text.count(TEAM_URL) == 1


def test_rendered_config(amtool, tmp_path):
    out = render_alertmanager_config(tmp_path / "am.yml", "http://sink:8080/page",
                                     "http://sink:8080/chat", group_wait="1s")
    text = out.read_text()
    assert '"http://sink:8080/page"' in text and '"http://sink:8080/chat"' in text
    config_lines = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    assert "9095" not in config_lines
    assert config_lines.count("group_wait: 1s") == 2  # root and customer route
    proc = run([amtool, "check-config", str(out)])
    assert proc.returncode == 0, describe(proc)
    assert route(amtool, customer_labels(), out) == "oncall"


def test_verify_receivers_flag_fails_on_mismatch(amtool):
    """Guard for the assertion style below: amtool exits 1 on a wrong receiver."""
    proc = run([amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_YML}",
                "--verify.receivers=team", *(f"{k}={v}" for k, v in customer_labels().items())])
    assert proc.returncode != 0, describe(proc)


@pytest.mark.parametrize("severity,receiver", [("critical", "oncall"), ("warning", "team")])
@pytest.mark.parametrize("rule", catalog.ALERT_RULES)
def test_customer_alert_routing(amtool, rule, severity, receiver):
    proc = run([amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_YML}",
                f"--verify.receivers={receiver}",
                *(f"{k}={v}" for k, v in customer_labels(rule, severity).items())])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.strip() == receiver


@pytest.mark.parametrize("alert", TEAM_ALERTS, ids=[f"{a.name}-{a.labels['severity']}" for a in TEAM_ALERTS])
def test_team_alert_routing(amtool, alert):
    expected = {"critical": "oncall", "warning": "team"}[alert.labels["severity"]]
    assert route(amtool, {"alertname": alert.name, **alert.labels}) == expected


@pytest.mark.parametrize("severity,receiver", [("critical", "oncall"), ("warning", "team")])
def test_routing_does_not_depend_on_the_customer_alertname(amtool, severity, receiver):
    labels = {**customer_labels("detractor", severity), "alertname": "CustomerHealth"}
    assert route(amtool, labels) == receiver


def test_unknown_severity_goes_to_team(amtool):
    assert route(amtool, {"alertname": "Something", "severity": "info"}) == "team"
    assert route(amtool, customer_labels(severity="info")) == "team"


# ------------------------------------------------------ live Alertmanager
def _http(method: str, url: str, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


@pytest.fixture
def live_alertmanager(alertmanager_bin, tmp_path):
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("w")
    proc = subprocess.Popen(
        [alertmanager_bin, f"--config.file={ALERTMANAGER_YML}",
         f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address="],  # no gossip port: single instance
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    def did_not_start() -> str:
        log.flush()
        return "Alertmanager did not start:\n" + (tmp_path / "alertmanager.log").read_text()

    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(did_not_start(), pytrace=False)
        urllib.request.urlopen(f"{base}/-/ready", timeout=1).read()
        return True

    try:
        eventually(ready, 20, interval=0.1, message=did_not_start, ignoring=(OSError,))
        yield base
    finally:
        stop_process(proc, timeout_s=10)
        log.close()


def _post(base, *label_sets, annotations=None):
    _http("POST", f"{base}/api/v2/alerts",
          [{"labels": labels, "annotations": annotations or {"summary": "test"}} for labels in label_sets])


def _status(base) -> dict[tuple, dict]:
    return {(a["labels"]["alertname"], a["labels"].get("customer_id"), a["labels"]["severity"]):
            a["status"] for a in _http("GET", f"{base}/api/v2/alerts")}


def _settled_status(base, expected_suppressed: set[tuple], total: int) -> dict[tuple, dict]:
    """The inhibitor ingests new alerts asynchronously: wait until it has caught up, then let
    the caller assert on the result."""
    def caught_up() -> bool:
        status = _status(base)
        suppressed = {k for k, v in status.items() if v["state"] == "suppressed"}
        return len(status) == total and suppressed >= expected_suppressed

    eventually(caught_up, 5, interval=0.05, message=lambda: f"alerts not all in and muted: {_status(base)}")
    # Not a wait for something: a wrong extra inhibition has this long to show before the caller's checks.
    time.sleep(0.2)
    return _status(base)


@pytest.mark.servers
def test_critical_customer_alert_inhibits_that_customers_warnings(live_alertmanager):
    base = live_alertmanager
    _post(base,
          customer_labels("entered_red", "critical", "c-1"),
          customer_labels("score_drop", "warning", "c-1"),      # same customer: muted
          customer_labels("score_drop", "warning", "c-2"),      # other customer: stays
          {"alertname": "CsHealthDlqRateHigh", "severity": "warning"})  # team alert: stays
    status = _settled_status(base, {("CustomerHealthScoreDrop", "c-1", "warning")}, total=4)
    assert status[("CustomerHealthScoreDrop", "c-1", "warning")]["state"] == "suppressed"
    assert status[("CustomerHealthScoreDrop", "c-1", "warning")]["inhibitedBy"]
    assert status[("CustomerHealthScoreDrop", "c-2", "warning")]["state"] == "active"
    assert status[("CustomerHealthEnteredRed", "c-1", "critical")]["state"] == "active"
    assert status[("CsHealthDlqRateHigh", None, "warning")]["state"] == "active"


@pytest.mark.servers
def test_team_alert_critical_tier_inhibits_its_warning_tier(live_alertmanager):
    base = live_alertmanager
    _post(base,
          {"alertname": "CsHealthEventAgeHigh", "severity": "warning"},
          {"alertname": "CsHealthEventAgeHigh", "severity": "critical"},
          {"alertname": "CsHealthConsumerLagHigh", "severity": "warning", "topic": "cs.tickets"},
          customer_labels("score_drop", "warning", "c-9"))
    status = _settled_status(base, {("CsHealthEventAgeHigh", None, "warning")}, total=4)
    assert status[("CsHealthEventAgeHigh", None, "warning")]["state"] == "suppressed"
    assert status[("CsHealthEventAgeHigh", None, "critical")]["state"] == "active"
    assert status[("CsHealthConsumerLagHigh", None, "warning")]["state"] == "active"
    # a team critical never mutes customer warnings
    assert status[("CustomerHealthScoreDrop", "c-9", "warning")]["state"] == "active"


@pytest.mark.servers
def test_customer_alerts_are_grouped_per_owner_and_rule(live_alertmanager):
    base = live_alertmanager
    _post(base,
          customer_labels("entered_red", "critical", "c-1", owner="alice"),
          customer_labels("entered_red", "critical", "c-2", owner="alice"),
          customer_labels("entered_red", "critical", "c-3", owner="bob"),
          customer_labels("silence", "warning", "c-4", owner="alice"))
    def grouped() -> dict[tuple, int]:
        return {(g["receiver"]["name"], tuple(sorted(g["labels"].items()))): len(g["alerts"])
                for g in _http("GET", f"{base}/api/v2/alerts/groups")}

    got = eventually(lambda: sum((answer := grouped()).values()) == 4 and answer, 5, interval=0.1,
                     message=lambda: f"not all 4 alerts grouped: {grouped()}")
    assert got == {
        ("oncall", (("owner", "alice"), ("rule", "entered_red"))): 2,
        ("oncall", (("owner", "bob"), ("rule", "entered_red"))): 1,
        ("team", (("owner", "alice"), ("rule", "silence"))): 1,
    }
