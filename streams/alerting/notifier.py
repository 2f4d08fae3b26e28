"""Pushes per-customer alerts to Alertmanager's /api/v2/alerts, resending while they are active.

Alertmanager forgets an alert at its endsAt, so firing alerts are re-posted every
RESEND_S with endsAt pushed forward; a resolved record is posted with endsAt = now.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import aiohttp
import orjson

from streams.telemetry.metrics import Metrics, segment_label

log = logging.getLogger("cshealth.alertmanager")

RESEND_S = 30.0
FIRING_TTL_S = 300.0


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat().replace("+00:00", "Z")


def alertmanager_payload(alert: dict, now_s: float) -> dict:
    """One Alertmanager alert from a cs.alerts record."""
    resolved = alert.get("status") == "resolved"
    labels = {
        "alertname": "CustomerHealth",
        "rule": alert["rule"],
        "severity": alert["severity"],
        "segment": segment_label(alert.get("segment")),
        "owner": alert.get("owner") or "unassigned",
        "customer_id": alert["customer_id"],
    }
    annotations = {
        "summary": alert.get("summary") or f"{alert['rule']} for {alert['customer_id']}",
        "evidence": orjson.dumps(alert.get("evidence") or {}).decode(),
        "runbook": alert.get("runbook") or "",
        "suggested_action": alert.get("suggested_action") or "",
        "event_time": str(alert.get("occurred_at", "")),
    }
    return {
        "labels": labels,
        "annotations": annotations,
        "startsAt": _iso(now_s),
        "endsAt": _iso(now_s if resolved else now_s + FIRING_TTL_S),
    }


def alert_identity(alert: dict) -> tuple[str, str]:
    return alert["customer_id"], alert["rule"]


class AlertmanagerNotifier:
    def __init__(self, base_url: str, metrics: Metrics, clock=time.time) -> None:
        self.url = base_url.rstrip("/") + "/api/v2/alerts"
        self.metrics = metrics
        self.clock = clock
        self.active: dict[tuple[str, str], dict] = {}
        self.started_at: dict[tuple[str, str], float] = {}
        self.pending: list[dict] = []
        self.last_resend = 0.0
        self._session: aiohttp.ClientSession | None = None

    def submit(self, alert: dict) -> None:
        """Called on the hot path: only queues."""
        identity = alert_identity(alert)
        if alert.get("status") == "resolved":
            self.active.pop(identity, None)
        else:
            self.active[identity] = alert
            self.started_at.setdefault(identity, self.clock())
        self.pending.append(alert)

    async def flush(self) -> None:
        now = self.clock()
        batch = self.pending
        self.pending = []
        if now - self.last_resend >= RESEND_S:
            self.last_resend = now
            batch = batch + list(self.active.values())
        if not batch:
            return
        payload = []
        for alert in batch:
            identity = alert_identity(alert)
            body = alertmanager_payload(alert, now)
            body["startsAt"] = _iso(self.started_at.get(identity, now))
            if alert.get("status") == "resolved":
                self.started_at.pop(identity, None)
            payload.append(body)
        try:
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
            async with self._session.post(self.url, data=orjson.dumps(payload),
                                          headers={"Content-Type": "application/json"}) as response:
                if response.status >= 300:
                    raise RuntimeError(f"HTTP {response.status}: {(await response.text())[:200]}")
            self.metrics.alertmanager_posts.labels("ok").inc()
        except Exception as exc:  # paging must never stop the stream; retry with the next flush
            log.warning("posting %d alerts to %s failed: %s", len(payload), self.url, exc)
            self.metrics.alertmanager_posts.labels("error").inc()
            self.pending = batch + self.pending
