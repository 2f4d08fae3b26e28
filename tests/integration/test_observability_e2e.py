"""End to end: real broker -> real worker -> real Prometheus / Alertmanager -> dashboards and pages.

1. A real Prometheus (Debian's `prometheus`, configs rendered by streams.devstack.render_config with a
   1 s scrape and rule interval) scrapes a worker fed with simulator data (400 customers, 75
   days), undecodable, duplicated and late records and a next day of live data; every query of every Grafana panel (variables substituted as
   Grafana would: segment All and "smb", instance All and the worker's address) returns data,
   and so does every metric selector inside it (a `... or vector(0)` fallback cannot hide a
   missing series) and every recording rule; every rule evaluates without error.
2. A real Alertmanager (Debian's `prometheus-alertmanager`, prometheus/alertmanager.yml rendered
   with this test's webhook and short timers) receives the worker's per-customer alerts of a
   hand-made two-customer scenario (tests/support/paging_scenario.py, checked against the offline
   replay by tests/observability/test_paging_scenario.py): the on-call webhook gets exactly the
   customer that turns red, grouped by its owner, then the resolution when it recovers; the
   healthy customer never appears anywhere, and the worker's alerts topic must carry exactly the
   replay's alerts.

The binaries are required: a missing one fails the test (never skips).
"""
from __future__ import annotations

import asyncio
import json
import math
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaProducer

from streams.devstack.local_monitoring import alertmanager_binary, prometheus_binary, start_alertmanager, start_prometheus
from streams.devstack.processes import WorkerProcess, settings_from, stack_env, stop_process
from streams.kafka import local_broker
from streams.sim.simulator import SimulationConfig, simulate
from tests.integration.harness import interleave_topics, produce
from tests.observability.grafana_queries import panel_targets
from tests.support.conditions import eventually
from tests.support.paging_scenario import HEALTHY, HEALTHY_OWNER, RED, RED_OWNER, replay_alerts, scenario
from tests.support.topics import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.servers]

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "grafana" / "dashboards"
RECORDING_RULES = REPO / "prometheus" / "rules" / "recording.yml"
CONCRETE_SEGMENT = "smb"  # the segment with the most customers: red ones, every revenue kind, surveys


# ------------------------------------------------------------------------------------ helpers
def require_binaries() -> None:
    missing = [f"{name} (Debian package '{package}': apt-get install -y {package})"
               for name, found, package in (("prometheus", prometheus_binary(), "prometheus"),
                                            ("alertmanager", alertmanager_binary(), "prometheus-alertmanager"))
               if not found]
    if missing:
        pytest.fail("not on PATH: " + "; ".join(missing) + ". These tests do not skip.", pytrace=False)


class WebhookSink:
    """Stands in for the reps' pagers: records every Alertmanager webhook POST (path, payload)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.lock:
                    sink.received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def payloads(self, path: str | None = None) -> list[dict]:
        with self.lock:
            return [p for where, p in self.received if path is None or where == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    s = WebhookSink()
    yield s
    s.close()


@pytest.fixture
def processes():
    """Processes started by the test, stopped afterwards in reverse order."""
    started: list = []
    yield started
    for item in reversed(started):
        item.stop() if isinstance(item, WorkerProcess) else stop_process(item, timeout_s=15)


def start_am(tmp_path: Path, sink: WebhookSink, processes: list) -> str:
    port = local_broker.free_port()
    log = open(tmp_path / "alertmanager.log", "ab")
    processes.append(start_alertmanager(tmp_path / "alertmanager", port, webhook_base=sink.url, log=log,
                                        group_wait="1s", group_interval="2s"))
    return f"127.0.0.1:{port}"


def start_paging_worker(bootstrap: str, prefix: str, tmp_path: Path, sink: WebhookSink,
                        processes: list) -> tuple[str, dict[str, str], WorkerProcess]:
    """An Alertmanager paging `sink`, and a ready worker alerting it: (its address, the worker's env, the worker)."""
    am = start_am(tmp_path, sink, processes)
    env = stack_env(bootstrap, prefix, alertmanager_url=f"http://{am}")
    worker = WorkerProcess(env, tmp_path / "state", tmp_path / "worker.log").start()
    processes.append(worker)
    worker.wait_ready()
    return am, env, worker


def http_json(url: str, data: dict | None = None, timeout: float = 30) -> dict:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(url, data=body, timeout=timeout) as response:
        return json.loads(response.read())


class Prometheus:
    def __init__(self, address: str) -> None:
        self.base = f"http://{address}"

    def query(self, expr: str, at: float | None = None) -> dict:
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at else {})
        return self._api("/api/v1/query", params)

    def query_range(self, expr: str, start: float, end: float) -> dict:
        step = max(1.0, (end - start) / 500)
        return self._api("/api/v1/query_range",
                         {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:.3f}"})

    def _api(self, path: str, params: dict) -> dict:
        try:
            answer = http_json(self.base + path, params)
        except urllib.error.HTTPError as error:  # 400 = the query does not parse / evaluate
            answer = json.loads(error.read())
        if answer.get("status") != "success":
            raise AssertionError(f"Prometheus rejected {params['query']!r}: {answer.get('error')}")
        return answer["data"]


def finite_values(data: dict) -> list[float]:
    """The finite sample values of a query answer (NaN and +-Inf draw nothing in Grafana)."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar" or kind == "string":
        raw = [result[1]]
    elif kind == "vector":
        raw = [s["value"][1] for s in result]
    else:
        raw = [v[1] for s in result for v in s["values"]]
    return [float(v) for v in raw if math.isfinite(float(v))]


# Metric selectors inside a PromQL expression: recording rule names (with ':'), the worker's
# metrics and `up`, with their {matchers} if any.
SELECTOR = re.compile(r'(?<![\w:"])((?:[A-Za-z_][\w]*:[\w:]*)|cshealth_\w+|up)(\{[^}]*\})?(?![\w(])')


def selectors(expr: str) -> list[str]:
    return [m.group(1) + (m.group(2) or "") for m in SELECTOR.finditer(expr)]


def worker_counter(worker: WorkerProcess, name: str, topic_prefix: str) -> float:
    with urllib.request.urlopen(worker.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf'{name}\{{topic="([^"]*)"\}} (\S+)$', line)
        if m and m.group(1).startswith(topic_prefix):
            total += float(m.group(2))
    return total


def wait_consumed(worker: WorkerProcess, prefix: str, at_least: int, timeout_s: float = 150,
                  poll_s: float = 1.0) -> None:
    def consumed() -> float:
        return worker_counter(worker, "cshealth_events_consumed_total", prefix + ".")

    def enough() -> bool:
        if consumed() >= at_least:
            return True
        worker.check_running()
        return False

    eventually(enough, timeout_s, poll_s,
               message=lambda: f"worker consumed {consumed():.0f} of {at_least} records: {worker.tail_log()}")


def produce_day_by_day(env: dict[str, str], worker: WorkerProcess, events: list[dict], prefix: str) -> None:
    """Events as they happen: one event-time day at a time, each consumed before the next is sent.

    A live feed, not a backfill: sending weeks of event time in one burst after a quiet period
    lets the worker's watermark run ahead of inputs it has not fetched yet (streams/runtime/watermark.py:
    an input quiet for idle_s whose high-water mark is stale stops holding the watermark), so
    their records become late and the alerts differ from the replay. Within one day's records
    nothing can be late (a tick closes only 6 h after its day ends).
    """
    from streams.kafka.producer import encode_for_kafka, topic_for_kind

    settings = settings_from(env)
    topics = topic_for_kind(settings)
    days: dict[str, list[dict]] = {}
    for event in events:
        days.setdefault(datetime.fromisoformat(event["occurred_at"]).astimezone(timezone.utc).date().isoformat(),
                        []).append(event)
    consumed = worker_counter(worker, "cshealth_events_consumed_total", prefix + ".")

    async def go():
        nonlocal consumed
        producer = AIOKafkaProducer(**settings.kafka_client_options(), linger_ms=5)
        await producer.start()
        try:
            for day in sorted(days):
                for event in days[day]:
                    key, value = encode_for_kafka(event)
                    await producer.send(topics[event["topic"]], value, key=key)
                await producer.flush()
                consumed += len(days[day])
                await asyncio.to_thread(wait_consumed, worker, prefix, int(consumed), 60, 0.1)
        finally:
            await producer.stop()

    asyncio.run(go())


def send_raw(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> None:
    async def go():
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for topic, key, value in records:
                await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    asyncio.run(go())


# ------------------------------------------------------------- 1. dashboards and recording rules
SIM_START = datetime(2026, 6, 1, tzinfo=timezone.utc)
# More customers that sour or go quiet than the default mix, so that every segment has red ones.
SIM_SHARES = {"healthy": 0.6, "noisy_healthy": 0.1, "champion": 0.05, "sour": 0.12, "quiet_churner": 0.08,
              "stalled_onboarding": 0.05}


def simulated_events() -> list[dict]:
    cfg = SimulationConfig(customers=400, days=75, seed=7, start=SIM_START, story_shares=SIM_SHARES)
    return list(simulate(cfg).events())


def late_copies(events: list[dict], n: int) -> list[dict]:
    """New events (fresh ids) dated in the first week: their day's tick is long closed."""
    early = [e for e in events if e["topic"] == "interaction"][:n]
    assert len(early) == n
    return [dict(e, event_id=e["event_id"] + "-late") for e in early]


def next_day(events: list[dict], segments: dict[str, str | None]) -> list[dict]:
    """The day after the simulation, live: survey answers of every category the NPS / CSAT /
    eNPS rules count, purchases of both revenue kinds and negative mentions, in CONCRETE_SEGMENT.

    The simulation arrives as a burst: a label set whose events all land between two scrapes
    appears with its final value and never increases, and Prometheus' increase() cannot see a
    series' first value (streams/telemetry/metrics.py does not pre-create its label sets at 0). Live
    data keeps coming; this day makes every counter the rules divide by actually increase.
    """
    day = SIM_START + timedelta(days=75)
    customers = sorted(cid for cid, segment in segments.items() if segment == CONCRETE_SEGMENT)[:3]
    out = []

    def add(topic: str, cid: str, hour: int, **fields) -> None:
        at = day + timedelta(hours=hour, minutes=len(out))
        out.append({"topic": topic, "event_id": f"next-day-{len(out)}", "customer_id": cid,
                    "occurred_at": at.isoformat(), **fields})

    for n, cid in enumerate(customers):
        add("survey", cid, 9, kind="nps", score=(10, 0, 8)[n], touchpoint="relationship")
        add("survey", cid, 10, kind="csat", score=(5, 1, 4)[n], touchpoint="support_ticket")
        add("survey", "employees", 11, kind="nps", score=(10, 0, 8)[n], touchpoint="enps", respondent="employee")
        add("purchase", cid, 12, amount=500.0, currency="EUR", kind=("expansion", "contraction", "expansion")[n])
        add("mention", cid, 13, source="twitter", sentiment=-0.7, text="slow today")
    return out


def bad_records(prefix: str, round_: int) -> list[tuple[str, bytes, bytes]]:
    return [(f"{prefix}.surveys", b"c000001", b"\x00\xff not json " + str(round_).encode()),
            (f"{prefix}.purchases", b"c000002", b"[1, 2, 3]"),
            (f"{prefix}.mentions", b"c000003", b'{"event_id": "m-bad", "customer_id": "c000003"}')]


def dashboard_variants(worker_address: str) -> list[tuple[str, dict]]:
    return [("overview.json", {"segment": ".*"}),
            ("overview.json", {"segment": [CONCRETE_SEGMENT]}),
            ("operations.json", {"instance": ".*"}),
            ("operations.json", {"instance": [worker_address]})]


def test_every_grafana_panel_and_recording_rule_has_data(kafka_bootstrap, unique_prefix, tmp_path, sink, processes):
    require_binaries()
    events = simulated_events()
    segments = {e["customer_id"]: e.get("segment") for e in events if e["topic"] == "account"}
    # The data itself must be able to fill the concrete-segment panels (else the fixture is wrong, not the product).
    kinds = {e["kind"] for e in events if e["topic"] == "purchase" and segments.get(e["customer_id"]) == CONCRETE_SEGMENT}
    assert {"expansion", "contraction"} <= kinds, kinds
    assert any(e.get("respondent") == "employee" for e in events), "no employee eNPS answers"

    am, env, worker = start_paging_worker(kafka_bootstrap, unique_prefix, tmp_path, sink, processes)
    worker_address = f"127.0.0.1:{worker.port}"
    prom_address = f"127.0.0.1:{local_broker.free_port()}"
    processes.append(start_prometheus(tmp_path / "prometheus", int(prom_address.rsplit(":", 1)[1]), [worker_address],
                                      am, scrape_interval="1s", log=open(tmp_path / "prometheus.log", "ab")))
    prom = Prometheus(prom_address)
    started = time.time() - 2
    eventually(lambda: finite_values(prom.query('up{job="cshealth"} == 1')), 30,
               message=lambda: f"Prometheus never scraped {worker_address}: {prom.query('up')}")

    # Feed: the simulation in two halves with undecodable records between them, then
    # re-deliveries (duplicates), late events, the next day's live data and more undecodable records.
    ordered = interleave_topics(events, seed=3)
    half = len(ordered) // 2
    produce(env, ordered[:half])
    send_raw(kafka_bootstrap, bad_records(unique_prefix, 1))
    produce(env, ordered[half:])
    expected = len(ordered) + 3
    wait_consumed(worker, unique_prefix, expected)
    duplicates = random.Random(5).sample(ordered, 300)
    late = late_copies(events, 40)
    live = next_day(events, segments)
    produce(env, duplicates + late + live)
    send_raw(kafka_bootstrap, bad_records(unique_prefix, 2))
    expected += len(duplicates) + len(late) + len(live) + 3
    wait_consumed(worker, unique_prefix, expected)

    # Every panel query, and every selector inside it, returns data over the run so far.
    checks: list[tuple[str, str, bool]] = []  # (what, expr, instant)
    for name, variables in dashboard_variants(worker_address):
        for q in panel_targets(DASHBOARDS / name, variables):
            what = f"{name} panel {q.panel_id} {q.panel_title!r} refId {q.ref_id} with {variables}"
            checks.append((what, q.expr, q.instant))
            checks.extend((f"{what}, selector", f"count({sel})", False) for sel in selectors(q.expr))
    rules = [r["record"] for g in yaml.safe_load(RECORDING_RULES.read_text())["groups"] for r in g["rules"]
             if "record" in r]
    assert len(rules) >= 20, rules
    checks.extend((f"recording rule {name}", name, False) for name in rules)
    assert len(checks) > 100

    pending = set((expr, instant) for _, expr, instant in checks)

    def all_have_data() -> bool:
        nonlocal pending
        now = time.time()
        pending = {(expr, instant) for expr, instant in pending
                   if not finite_values(prom.query(expr, now) if instant else prom.query_range(expr, started, now))}
        return not pending

    def missing() -> str:
        gaps = [(what, expr) for what, expr, instant in checks if (expr, instant) in pending]
        return f"{len(gaps)} queries returned no data:\n" + "\n".join(f"- {what}:\n    {expr}" for what, expr in gaps)

    eventually(all_have_data, 60, interval=2, message=missing)

    # Every rule (recording and alerting) evaluates without error.
    groups = http_json(f"http://{prom_address}/api/v1/rules")["data"]["groups"]
    evaluated = [(g["name"], r["name"], r["health"], r.get("lastError", "")) for g in groups for r in g["rules"]]
    assert {name for _, name, _, _ in evaluated} >= set(rules)
    bad = [e for e in evaluated if e[2] != "ok"]
    assert not bad, f"rules failing: {bad}"
    assert worker.proc.poll() is None


# ------------------------------------------------------------------------ 2. per-customer pages
def alert_key(a: dict) -> tuple:
    return a["customer_id"], a["rule"], a["severity"], a["status"], a["occurred_at"], a["alert_id"]


def oncall_alerts(sink: WebhookSink, status: str) -> list[tuple[dict, dict]]:
    return [(p, a) for p in sink.payloads("/oncall") for a in p["alerts"] if a["status"] == status]


def test_alertmanager_pages_the_red_customers_owner_then_resolves(kafka_bootstrap, unique_prefix, tmp_path, sink,
                                                                   processes):
    require_binaries()
    phase1, phase2 = scenario()
    expected_first, expected_all = replay_alerts(phase1), replay_alerts(phase1 + phase2)
    _, env, worker = start_paging_worker(kafka_bootstrap, unique_prefix, tmp_path, sink, processes)

    def context() -> str:
        return f"webhook got {sink.received}\nworker log: {worker.tail_log(1500)}"

    produce_day_by_day(env, worker, phase1, unique_prefix)
    eventually(lambda: oncall_alerts(sink, "firing"), 120, message=lambda: f"no firing page on the on-call webhook; {context()}")
    firing_pages = [p for p in sink.payloads("/oncall") if p["status"] == "firing"]
    for page in firing_pages:
        assert [(a["labels"]["customer_id"], a["labels"]["rule"]) for a in page["alerts"]] == [(RED, "entered_red")]
        assert page["receiver"] == "oncall"
        assert page["groupLabels"] == {"owner": RED_OWNER, "rule": "entered_red"}, page["groupLabels"]
        common = page["commonLabels"]
        assert (common["owner"], common["customer_id"], common["severity"], common["segment"]) == (
            RED_OWNER, RED, "critical", "enterprise"), common
    resolved_before = oncall_alerts(sink, "resolved")
    assert not resolved_before, f"resolved before the customer recovered: {resolved_before}"

    produce_day_by_day(env, worker, phase2, unique_prefix)
    eventually(lambda: oncall_alerts(sink, "resolved"), 120,
               message=lambda: f"no resolved notification on the on-call webhook; {context()}")
    # Not a wait for something: what must not come (a resend, a late group, the healthy customer)
    # has this long to show up before the checks below say it did not.
    time.sleep(5)
    for page, alert in oncall_alerts(sink, "resolved"):
        assert (alert["labels"]["customer_id"], alert["labels"]["rule"]) == (RED, "entered_red")
        assert page["groupLabels"] == {"owner": RED_OWNER, "rule": "entered_red"}
    for page in sink.payloads("/oncall"):
        assert {(a["labels"]["customer_id"], a["labels"]["rule"], a["labels"]["severity"]) for a in page["alerts"]} \
            == {(RED, "entered_red", "critical")}, page
    anywhere = [(path, p) for path, p in sink.received if HEALTHY in json.dumps(p) or HEALTHY_OWNER in json.dumps(p)]
    assert not anywhere, f"the healthy customer reached a webhook: {anywhere}"

    # The alerts topic carries exactly the replay's alerts (firing and resolved, warnings included).
    want = sorted(map(alert_key, expected_all))
    got: list = []

    def alerts_as_replayed() -> bool:
        got[:] = sorted(map(alert_key, read_all(kafka_bootstrap, env["CSHEALTH_TOPIC_ALERTS"])))
        return got == want

    eventually(alerts_as_replayed, 60, interval=2,
               message=lambda: f"alerts topic differs from the replay:\n got {got}\nwant {want}")
    assert set(map(alert_key, expected_first)) < set(got)
    assert worker.proc.poll() is None
