"""Pushes per-customer alerts to Alertmanager's /api/v2/alerts from its own task.

One entry per alert identity (customer, rule, dedupe key): a newer record of the same alert
replaces the entry, so however long Alertmanager is down the notifier holds at most one entry
per active alert (plus resolutions not yet delivered). Alertmanager forgets an alert at its
endsAt, so firing alerts are re-posted every RESEND_S with endsAt pushed FIRING_TTL_S ahead; a
resolved record is posted once with endsAt = now, then forgotten.

The sending runs in `run()` (its own task, never the sweep timer): POSTs of at most CHUNK_SIZE
alerts, one after the other, and exponential backoff with jitter while Alertmanager refuses,
fails or is slower than POST_TIMEOUT_S. `submit()` is what the pipeline calls: a dict update.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable

import aiohttp
import orjson

from streams.telemetry.metrics import Metrics, segment_label

log = logging.getLogger("cshealth.alertmanager")

RESEND_S = 30.0
# Several resends fit in it, so one lost or late POST does not end the alert in Alertmanager.
FIRING_TTL_S = 300.0
# Alertmanager decodes a request whole; small requests keep each POST short on a slow receiver.
CHUNK_SIZE = 500
POST_TIMEOUT_S = 10.0
POLL_S = 1.0
# At stop, what is due gets one more POST within this (the worker's shutdown deadline is longer):
# a resolution left unposted would keep the rep's page open until its endsAt.
LAST_POST_S = 2.0
BACKOFF_MIN_S = 1.0
# Well under FIRING_TTL_S: after an outage the alerts are back before Alertmanager ends them.
BACKOFF_MAX_S = 60.0

Identity = tuple[str, str, str]


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat().replace("+00:00", "Z")


def alertname(rule: str) -> str:
    """CustomerHealth + the rule in CamelCase, as prometheus/alertmanager.yml documents."""
    return "CustomerHealth" + "".join(part.capitalize() for part in rule.split("_"))


def dedupe_key(alert: dict) -> str:
    # Records written before dedupe_key existed carry one alert per customer and rule.
    return alert.get("dedupe_key") or f"{alert['customer_id']}/{alert['rule']}"


def alert_identity(alert: dict) -> Identity:
    return alert["customer_id"], alert["rule"], dedupe_key(alert)


def alertmanager_payload(alert: dict, now_s: float, starts_at_s: float | None = None) -> dict:
    """One Alertmanager alert from a cs.alerts record. dedupe_key is a label because Alertmanager
    identifies an alert by its label set: two recurring-issue categories of one customer are two
    alerts there, and resolving one leaves the other firing."""
    resolved = alert.get("status") == "resolved"
    labels = {
        "alertname": alertname(alert["rule"]),
        "rule": alert["rule"],
        "severity": alert["severity"],
        "segment": segment_label(alert.get("segment")),
        "owner": alert.get("owner") or "unassigned",
        "customer_id": alert["customer_id"],
        "dedupe_key": dedupe_key(alert),
    }
    annotations = {
        "summary": alert.get("summary") or f"{alert['rule']} for {alert['customer_id']}",
        "evidence": orjson.dumps(alert.get("evidence") or {}).decode(),
        "runbook": alert.get("runbook") or "",
        "suggested_action": alert.get("suggested_action") or "",
        "event_time": str(alert.get("occurred_at", "")),
    }
    starts = now_s if starts_at_s is None else min(starts_at_s, now_s)
    return {
        "labels": labels,
        "annotations": annotations,
        "startsAt": _iso(starts),
        "endsAt": _iso(now_s if resolved else now_s + FIRING_TTL_S),
    }


@dataclass
class _Entry:
    alert: dict
    starts_at: float    # wall clock: Alertmanager's startsAt
    submitted: float    # monotonic
    due: float          # monotonic: post when the monotonic clock reaches it

    @property
    def resolved(self) -> bool:
        return self.alert.get("status") == "resolved"


class AlertmanagerNotifier:
    """submit() from the pipeline; run() (or start()/stop()) as the worker's own task."""

    def __init__(self, base_url: str, metrics: Metrics, clock: Callable[[], float] = time.time, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 resend_s: float = RESEND_S, chunk_size: int = CHUNK_SIZE, timeout_s: float = POST_TIMEOUT_S,
                 poll_s: float = POLL_S, backoff_min_s: float = BACKOFF_MIN_S,
                 backoff_max_s: float = BACKOFF_MAX_S, jitter: Callable[[], float] = random.random,
                 last_post_s: float = LAST_POST_S) -> None:
        self.url = base_url.rstrip("/") + "/api/v2/alerts"
        self.metrics = metrics
        self.clock, self.monotonic, self.sleep = clock, monotonic, sleep
        self.resend_s, self.chunk_size, self.timeout_s, self.poll_s = resend_s, chunk_size, timeout_s, poll_s
        self.backoff_min_s, self.backoff_max_s, self.jitter = backoff_min_s, backoff_max_s, jitter
        self.last_post_s = last_post_s
        self.entries: dict[Identity, _Entry] = {}
        self.next_due = float("inf")  # no entry is due before this (monotonic)
        self.failures = 0             # failed POSTs in a row
        self.retry_at = float("-inf")  # monotonic: no POST before this while backing off
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task | None = None

    # ------------------------------------------------------------------ the pipeline's side
    def submit(self, alert: dict) -> None:
        """Called on the hot path: replaces the alert's entry and marks it due, nothing else."""
        identity = alert_identity(alert)
        now = self.monotonic()
        old = self.entries.get(identity)
        if old is not None and old.alert == alert:
            return  # a repeat (a re-page after a restart): the entry already posts it
        # Keeping the first start lets a re-fired or updated alert stay one alert in Alertmanager.
        starts_at = old.starts_at if old is not None else self.clock()
        self.entries[identity] = _Entry(alert, starts_at, now, now)
        self.next_due = now

    def pending_count(self) -> int:
        """Entries waiting to be posted: new, changed, resolved, or due for their resend."""
        now = self.monotonic()
        return sum(1 for entry in list(self.entries.values()) if entry.due <= now)

    def held_count(self) -> int:
        """Entries held: firing alerts (re-posted until resolved) and resolutions not yet delivered."""
        return len(self.entries)

    # ------------------------------------------------------------------ the task
    def start(self) -> asyncio.Task:
        """Start run() as a task of the running loop (once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="alertmanager-notifier")
        return self._task

    async def stop(self) -> None:
        """Cancel the task, which posts what is due once more (within last_post_s), and close the
        HTTP session. Firing alerts end in Alertmanager at their endsAt; a resolution the last
        POST could not deliver ends that way too, at most FIRING_TTL_S late."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run(self) -> None:
        """Post what is due, every poll_s, until cancelled. Never raises otherwise: an exception
        out of a Faust task crashes the worker, and paging must not stop the stream."""
        try:
            while True:
                if self.monotonic() >= self.retry_at:
                    try:
                        await self.post_due()
                    except Exception as exc:  # a bug here: log it, back off, keep paging the rest
                        log.exception("the Alertmanager notifier's round failed")
                        self._failed(0, exc)
                await self.sleep(self.poll_s)
        except asyncio.CancelledError:
            await self._last_post()
            raise
        finally:
            await self.close()

    async def _last_post(self) -> None:
        """The worker stops: post what is due (resolutions above all) once more, bounded."""
        if self.next_due == float("inf"):
            return
        try:
            await asyncio.wait_for(self.post_due(), self.last_post_s)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            log.warning("stopping with %d alerts not posted to %s", self.pending_count(), self.url)
        except Exception:
            log.exception("the Alertmanager notifier's last post failed")

    async def post_due(self) -> bool:
        """One round: POST every due entry, CHUNK_SIZE at a time. False when a POST failed (the
        rest stays due and the next round waits for the backoff)."""
        now = self.monotonic()
        if now < self.next_due:
            return True
        self._forget_stale_resolutions(now)
        due = [(identity, entry) for identity, entry in self.entries.items() if entry.due <= now]
        for start in range(0, len(due), self.chunk_size):
            chunk = due[start:start + self.chunk_size]
            if not await self._post(chunk):
                self._recompute_next_due()
                return False
        self._recompute_next_due()
        return True

    # ------------------------------------------------------------------ internals
    async def _post(self, chunk: list[tuple[Identity, _Entry]]) -> bool:
        wall = self.clock()
        payload = []
        for identity, entry in chunk:
            try:
                payload.append(alertmanager_payload(entry.alert, wall, entry.starts_at))
            except Exception:  # one malformed record must not hold back every other page
                log.exception("dropping an alert Alertmanager cannot be sent: %r", entry.alert)
                if self.entries.get(identity) is entry:
                    del self.entries[identity]
        if not payload:
            return True
        body = orjson.dumps(payload)
        rejected = ""
        try:
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
            async with self._session.post(self.url, data=body,
                                          headers={"Content-Type": "application/json"}) as response:
                if response.status >= 300:
                    said = f"HTTP {response.status}: {(await response.text())[:200]}"
                    if not 400 <= response.status < 500 or response.status in (408, 429):
                        raise RuntimeError(said)
                    rejected = said
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # paging must never stop the stream: back off and retry
            self.metrics.alertmanager_posts.labels("error").inc()
            self._failed(len(chunk), exc)
            return False
        if rejected:
            # Alertmanager keeps the valid alerts of a request and names the others; sending the same
            # body again gets the same answer. Firing alerts are posted again at their resend anyway.
            log.error("Alertmanager at %s refused alerts: %s", self.url, rejected)
        self.metrics.alertmanager_posts.labels("error" if rejected else "ok").inc()
        if self.failures:
            log.info("Alertmanager at %s takes alerts again after %d failed posts", self.url, self.failures)
        self.failures, self.retry_at = 0, float("-inf")
        self._delivered(chunk)
        return True

    def _failed(self, count: int, exc: Exception) -> None:
        self.failures += 1
        delay = min(self.backoff_max_s, self.backoff_min_s * 2 ** min(self.failures - 1, 30))
        # Jitter spreads the retries of several workers after a shared outage.
        delay *= 0.5 + 0.5 * self.jitter()
        self.retry_at = self.monotonic() + delay
        level = logging.WARNING if self.failures == 1 else logging.DEBUG
        log.log(level, "posting %d alerts to %s failed (%d in a row, next try in %.1fs): %r",
                count, self.url, self.failures, delay, exc)

    def _delivered(self, chunk: list[tuple[Identity, _Entry]]) -> None:
        now = self.monotonic()
        for identity, entry in chunk:
            if self.entries.get(identity) is not entry:
                continue  # replaced while the POST was in flight: the newer record is due
            if entry.resolved:
                del self.entries[identity]
            else:
                entry.due = now + self.resend_s

    def _forget_stale_resolutions(self, now: float) -> None:
        # Every firing POST of the alert preceded its resolution and ended FIRING_TTL_S later at
        # most, so past that Alertmanager has ended the alert itself.
        stale = [identity for identity, entry in self.entries.items()
                 if entry.resolved and now - entry.submitted > FIRING_TTL_S]
        for identity in stale:
            del self.entries[identity]

    def _recompute_next_due(self) -> None:
        self.next_due = min((entry.due for entry in self.entries.values()), default=float("inf"))
