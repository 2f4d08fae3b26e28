"""The Alertmanager notifier against a fake Alertmanager (an aiohttp server on 127.0.0.1 that can
refuse connections, answer 503, or answer slowly) and against the real one.

The notifier's clocks and its poll sleep are a FakeClock that the test moves on, so an hour of
Alertmanager being down takes a few hundred steps; the HTTP traffic and the ticker that stands in
for the worker's sweep timer run on real time."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime

import aiohttp
import pytest
from aiohttp import web

from streams.alerting.notifier import FIRING_TTL_S, RESEND_S, AlertmanagerNotifier, alert_identity, \
    alertmanager_payload
from streams.devstack.local_monitoring import alertmanager_binary, start_alertmanager
from streams.devstack.processes import stop_process
from streams.kafka.local_broker import free_port
from streams.telemetry.metrics import Metrics

CHUNK = 30
RULES = ("entered_red", "silence", "detractor", "score_drop")


# ---------------------------------------------------------------------------- helpers
class FakeClock:
    """Wall clock, monotonic clock and sleep for the notifier; time moves only in advance()."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, asyncio.Future]] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - 1_700_000_000.0

    async def sleep(self, seconds: float) -> None:
        sleeper = (self.now + seconds, asyncio.get_running_loop().create_future())
        self._sleepers.append(sleeper)
        try:
            await sleeper[1]
        finally:
            self._sleepers.remove(sleeper)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, future in self._sleepers:
            if deadline <= self.now and not future.done():
                future.set_result(None)

    def someone_sleeps(self) -> bool:
        """True once the notifier waits for a later moment again: whatever it had to do is done."""
        return any(deadline > self.now and not future.done() for deadline, future in self._sleepers)


async def until(condition, timeout: float = 30.0, message="the condition did not hold"):
    """eventually() for code on the event loop: tests/support's eventually() sleeps with
    time.sleep, which would stop the servers and the notifier this test waits for."""
    deadline = time.monotonic() + timeout
    while True:
        answer = condition()
        if answer:
            return answer
        if time.monotonic() >= deadline:
            said = message() if callable(message) else message
            raise AssertionError(f"{said}: not within {timeout:g}s")
        await asyncio.sleep(0.002)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class FakeAlertmanager:
    """POST /api/v2/alerts. Down = nothing listens on the port (connection refused); `status`
    other than 200 answers that; `delay_s` answers that much later (real time)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.status = 200
        self.delay_s = 0.0
        self.requests = 0                 # every request that reached the server
        self.posts: list[list[dict]] = []  # the accepted ones
        self.alerts: dict[tuple, dict] = {}  # Alertmanager's identity: the label set -> latest alert
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()  # ends the delays of answers in flight when it goes down

    async def up(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.status, self.delay_s = status, delay_s
        if self._runner is None:
            self._release.clear()
            app = web.Application()
            app.router.add_post("/api/v2/alerts", self._receive)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def down(self) -> None:
        if self._runner is not None:
            self._release.set()
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.delay_s:
            try:
                await asyncio.wait_for(self._release.wait(), self.delay_s)
            except asyncio.TimeoutError:
                pass
        if self.status != 200:
            return web.Response(status=self.status, text="unavailable")
        alerts = await request.json()
        self.posts.append(alerts)
        for alert in alerts:
            self.alerts[tuple(sorted(alert["labels"].items()))] = alert
        return web.Response(status=200)

    def firing(self, now: float) -> set[str]:
        """dedupe_key of every alert Alertmanager would show as firing at `now`."""
        return {a["labels"]["dedupe_key"] for a in self.alerts.values() if _epoch(a["endsAt"]) > now}

    def ended(self, now: float) -> set[str]:
        return {a["labels"]["dedupe_key"] for a in self.alerts.values() if _epoch(a["endsAt"]) <= now}


def alert(customer: str, rule: str, key: str = "", status: str = "firing") -> dict:
    severity = "critical" if rule in ("entered_red", "cancellation") else "warning"
    return {"alert_id": f"{customer}-{rule}-{key}", "customer_id": customer, "rule": rule, "severity": severity,
            "status": status, "dedupe_key": f"{customer}/{rule}/{key}" if key else f"{customer}/{rule}",
            "occurred_at": "2027-01-01T23:59:59.999Z", "owner": "ann", "segment": "smb",
            "summary": f"{rule} {key}".strip(), "evidence": {}}


def hundred_alerts() -> list[dict]:
    """One customer with two recurring-issue categories, and 98 other customers' alerts."""
    return ([alert("c-two", "recurring_issue", "billing"), alert("c-two", "recurring_issue", "login")]
            + [alert(f"c-{i:03d}", RULES[i % len(RULES)]) for i in range(98)])


def errors(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("cshealth_alertmanager_posts_total", {"outcome": "error"})


# ---------------------------------------------------------------------------- without a server
def test_identity_and_labels_tell_the_recurring_categories_apart():
    billing, login = alert("c1", "recurring_issue", "billing"), alert("c1", "recurring_issue", "login")
    assert alert_identity(billing) != alert_identity(login)
    labels = [alertmanager_payload(a, 1e9)["labels"] for a in (billing, login)]
    assert labels[0] != labels[1]
    assert labels[0]["dedupe_key"] == "c1/recurring_issue/billing"
    assert labels[0]["alertname"] == "CustomerHealthRecurringIssue"
    # Records without a dedupe_key are one alert per customer and rule, as they were.
    legacy = {k: v for k, v in billing.items() if k != "dedupe_key"}
    assert alert_identity(legacy) == ("c1", "recurring_issue", "c1/recurring_issue")


def test_one_entry_per_alert_and_a_resolution_replaces_its_firing():
    clock = FakeClock()
    notifier = AlertmanagerNotifier("http://127.0.0.1:9", Metrics(), clock.time, monotonic=clock.monotonic)
    billing = alert("c1", "recurring_issue", "billing")
    for _ in range(50):
        notifier.submit(billing)
        notifier.submit(dict(billing, summary="updated evidence"))
    notifier.submit(alert("c1", "recurring_issue", "login"))
    assert notifier.held_count() == 2 == notifier.pending_count()
    started = notifier.entries[alert_identity(billing)].starts_at
    clock.advance(100)
    notifier.submit(dict(billing, status="resolved"))
    assert notifier.held_count() == 2
    entry = notifier.entries[alert_identity(billing)]
    assert entry.resolved and entry.starts_at == started


# ---------------------------------------------------------------------------- the fake Alertmanager
def test_down_for_an_hour_then_slow_keeps_the_queue_bounded_and_the_ticks_on_time():
    asyncio.run(_down_then_slow())


async def _down_then_slow():
    clock, metrics = FakeClock(), Metrics()
    am = FakeAlertmanager(free_port())
    notifier = AlertmanagerNotifier(am.url, metrics, clock.time, monotonic=clock.monotonic, sleep=clock.sleep,
                                    chunk_size=CHUNK)
    alerts = hundred_alerts()
    notifier.start()
    try:
        # 1. An hour down: connection refused for half of it, then 503. The pipeline submits
        #    every alert again now and then (re-pages after a restart, updated evidence).
        for alert_record in alerts:
            notifier.submit(alert_record)
        step_s = 10.0
        for step in range(int(3600 / step_s)):
            if step == 180:
                await am.up(status=503)
            if step % 30 == 0:
                for alert_record in alerts:
                    notifier.submit(dict(alert_record, summary=f"{alert_record['summary']} #{step}"))
            clock.advance(step_s)
            await until(clock.someone_sleeps, message="the notifier did not settle after a step")
            assert notifier.held_count() <= len(alerts)
        assert notifier.held_count() == 100 and notifier.pending_count() == 100
        assert am.posts == [] and am.requests > 0
        # Backoff: without it a try every step (360); with it at most one per 30 s (the capped
        # 60 s halved by jitter) plus the first few short delays.
        assert 30 <= errors(metrics) <= 130, errors(metrics)
        for alert_record in alerts:  # the latest records as they were: the ticker below repeats them
            notifier.submit(alert_record)

        # 2. Alertmanager answers again, slowly: every POST takes 1.5 s while a 1 s ticker (the
        #    sweep timer's stand-in, submitting as the pipeline does) keeps its schedule.
        await am.up(status=200, delay_s=1.5)
        lateness: list[float] = []

        async def ticker():
            loop = asyncio.get_running_loop()
            start = loop.time()
            for tick in range(1, 1000):
                await asyncio.sleep(max(0.0, start + tick - loop.time()))
                lateness.append(loop.time() - (start + tick))
                notifier.submit(alerts[tick % len(alerts)])

        ticking = asyncio.create_task(ticker())
        clock.advance(61.0)  # past any backoff delay
        await until(lambda: len(am.alerts) == 100, timeout=120,
                    message=lambda: f"{len(am.alerts)} alerts in the fake Alertmanager")
        ticking.cancel()
        assert len(lateness) >= 3  # the posting took at least 4 x 1.5 s: the ticker ran meanwhile
        # Far below one POST's 1.5 s: no tick waited for Alertmanager.
        assert max(lateness) < 1.0, lateness
        assert [len(post) for post in am.posts] == [30, 30, 30, 10]
        assert {"c-two/recurring_issue/billing", "c-two/recurring_issue/login"} <= am.firing(clock.now)
        await until(clock.someone_sleeps)
        assert notifier.pending_count() == 0 and notifier.held_count() == 100

        # 3. Resolving one category leaves the other firing, through resends past the first TTL.
        am.delay_s = 0.0
        notifier.submit(alert("c-two", "recurring_issue", "billing", status="resolved"))
        clock.advance(1.0)
        await until(lambda: "c-two/recurring_issue/billing" in am.ended(clock.now),
                    message=lambda: f"billing not resolved: {am.alerts}")
        await until(clock.someone_sleeps)
        assert notifier.held_count() == 99
        posts_with_billing = sum(1 for post in am.posts for a in post
                                 if a["labels"]["dedupe_key"] == "c-two/recurring_issue/billing")
        for _ in range(int((FIRING_TTL_S + 2 * RESEND_S) / step_s)):
            clock.advance(step_s)
            await until(clock.someone_sleeps)
            assert "c-two/recurring_issue/login" in am.firing(clock.now)
            assert "c-two/recurring_issue/billing" in am.ended(clock.now)
            assert len(am.firing(clock.now)) == 99
        assert posts_with_billing == sum(1 for post in am.posts for a in post
                                         if a["labels"]["dedupe_key"] == "c-two/recurring_issue/billing")
        assert max(len(post) for post in am.posts) <= CHUNK
    finally:
        await notifier.stop()
        await am.down()


def test_a_post_slower_than_the_timeout_counts_as_a_failure_and_backs_off():
    asyncio.run(_slower_than_the_timeout())


async def _slower_than_the_timeout():
    clock, metrics = FakeClock(), Metrics()
    am = FakeAlertmanager(free_port())
    await am.up(delay_s=5.0)
    notifier = AlertmanagerNotifier(am.url, metrics, clock.time, monotonic=clock.monotonic, sleep=clock.sleep,
                                    timeout_s=0.2)
    notifier.submit(alert("c1", "silence"))
    notifier.start()
    try:
        await until(lambda: errors(metrics) == 1)
        await until(clock.someone_sleeps)
        assert notifier.failures == 1 and notifier.pending_count() == 1
        clock.advance(0.3)  # inside the first backoff (0.5 to 1 s): no second try
        await until(clock.someone_sleeps)
        assert am.requests == 1
        am.delay_s = 0.0
        clock.advance(1.0)
        await until(lambda: len(am.posts) == 1)
        await until(clock.someone_sleeps)
        assert notifier.failures == 0 and notifier.pending_count() == 0
    finally:
        await notifier.stop()
        await am.down()


def test_a_refused_or_malformed_alert_does_not_hold_back_the_others():
    asyncio.run(_refused_and_malformed())


async def _refused_and_malformed():
    clock, metrics = FakeClock(), Metrics()
    am = FakeAlertmanager(free_port())
    await am.up(status=400)
    notifier = AlertmanagerNotifier(am.url, metrics, clock.time, monotonic=clock.monotonic, sleep=clock.sleep)
    notifier.submit(alert("c1", "silence"))
    notifier.submit(alert("c2", "silence", status="resolved"))
    notifier.submit({k: v for k, v in alert("c3", "silence").items() if k != "severity"})  # no payload possible
    first = notifier.start()
    try:
        assert notifier.start() is first  # once
        await until(lambda: am.requests == 1)
        await until(clock.someone_sleeps)
        # A 400 is an answer, not an outage: no backoff; the resolution is done, the firing alert
        # waits for its resend, the alert without a severity is dropped.
        assert notifier.failures == 0 and notifier.pending_count() == 0
        assert [key[1] for key in notifier.entries] == ["silence"] and notifier.held_count() == 1
        am.status = 200
        clock.advance(RESEND_S)
        await until(lambda: len(am.posts) == 1)
        assert [a["labels"]["customer_id"] for a in am.posts[0]] == ["c1"]
    finally:
        await notifier.stop()
        await am.down()


# ---------------------------------------------------------------------------- the real Alertmanager
@pytest.mark.servers
def test_the_real_alertmanager_shows_the_two_categories_as_two_alerts(tmp_path):
    if alertmanager_binary() is None:
        pytest.fail("needs Alertmanager: apt-get install prometheus-alertmanager", pytrace=False)
    port = free_port()
    # The webhooks go to a port nobody listens on: this test looks at Alertmanager's own view.
    process = start_alertmanager(tmp_path / "alertmanager", port, webhook_base=f"http://127.0.0.1:{free_port()}",
                                 log=(tmp_path / "alertmanager.log").open("wb"))
    try:
        asyncio.run(_two_categories_in_alertmanager(f"http://127.0.0.1:{port}"))
    finally:
        stop_process(process, timeout_s=10)


async def _two_categories_in_alertmanager(base: str):
    notifier = AlertmanagerNotifier(base, Metrics(), poll_s=0.05)
    notifier.start()
    async with aiohttp.ClientSession() as session:
        async def shown() -> dict[str, str]:
            async with session.get(f"{base}/api/v2/alerts") as response:
                return {a["labels"]["dedupe_key"]: a["status"]["state"] for a in await response.json()
                        if a["labels"].get("customer_id") == "c-two"}

        async def wait_for(expected: dict[str, str]) -> None:
            deadline, got = time.monotonic() + 30, None
            while (got := await shown()) != expected:
                assert time.monotonic() < deadline, f"Alertmanager shows {got}, expected {expected}"
                await asyncio.sleep(0.05)

        try:
            notifier.submit(alert("c-two", "recurring_issue", "billing"))
            notifier.submit(alert("c-two", "recurring_issue", "login"))
            await wait_for({"c-two/recurring_issue/billing": "active", "c-two/recurring_issue/login": "active"})
            notifier.submit(alert("c-two", "recurring_issue", "billing", status="resolved"))
            await wait_for({"c-two/recurring_issue/login": "active"})
        finally:
            await notifier.stop()


def test_a_resolution_due_when_the_worker_stops_is_posted_before_it_ends():
    asyncio.run(_resolution_at_stop())


async def _resolution_at_stop():
    clock, metrics = FakeClock(), Metrics()
    am = FakeAlertmanager(free_port())
    await am.up()
    notifier = AlertmanagerNotifier(am.url, metrics, clock.time, monotonic=clock.monotonic, sleep=clock.sleep)
    notifier.submit(alert("c1", "silence"))
    notifier.start()
    try:
        await until(lambda: len(am.posts) == 1)
        await until(clock.someone_sleeps)  # between two rounds: the next would post the resolution
        notifier.submit(alert("c1", "silence", status="resolved"))
        await notifier.stop()
        assert am.ended(clock.now) == {"c1/silence"}  # not left firing until its endsAt
        assert notifier.held_count() == 0
    finally:
        await notifier.stop()
        await am.down()


def test_a_last_post_to_an_alertmanager_that_is_down_does_not_hold_the_stop():
    asyncio.run(_last_post_when_down())


async def _last_post_when_down():
    clock, metrics = FakeClock(), Metrics()
    am = FakeAlertmanager(free_port())
    await am.up(delay_s=30.0)  # answers far later than the last post may wait
    notifier = AlertmanagerNotifier(am.url, metrics, clock.time, monotonic=clock.monotonic, sleep=clock.sleep,
                                    last_post_s=0.3, timeout_s=60)
    notifier.start()
    await until(clock.someone_sleeps)
    notifier.submit(alert("c1", "silence", status="resolved"))
    started = time.monotonic()
    try:
        await notifier.stop()
        assert time.monotonic() - started < 10  # bounded by last_post_s, not by the 30 s answer
        assert notifier.held_count() == 1  # kept: the next worker's re-page or its endsAt ends it
    finally:
        await am.down()
