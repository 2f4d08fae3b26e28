"""`cshealth tail`: cs.alerts and cs.health-changes, live, as lines an on-call rep can read."""
from __future__ import annotations

import asyncio
from typing import Callable

import orjson
from streams.kafka.reader import read_topics
from streams.settings import Settings

SEVERITY_MARK = {"critical": "!!", "warning": "! "}


def format_alert(alert: dict) -> str:
    status = alert.get("status", "firing").upper()
    mark = SEVERITY_MARK.get(alert.get("severity"), "  ")
    owner = alert.get("owner") or "unassigned"
    summary = alert.get("summary") or alert.get("rule")
    action = alert.get("suggested_action")
    line = f"{mark} {alert.get('occurred_at', '?'):<25} {status:<8} {alert.get('customer_id')} [{owner}] {summary}"
    return f"{line}\n     -> {action}" if action and status == "FIRING" else line


def format_change(change: dict) -> str:
    reasons = change.get("explanation") or change.get("reasons") or ""
    if isinstance(reasons, list):
        reasons = ", ".join(str(r) for r in reasons)
    band = change.get("band")
    previous = change.get("previous_band")
    band_text = f"{previous}->{band}" if previous and previous != band else str(band)
    previous_score, score, interval = change.get("previous_score"), change.get("score"), change.get("interval")
    moved = f"new {score}" if previous_score is None else f"{previous_score}->{score}"
    if interval:
        moved += f" [{interval[0]}-{interval[1]}]"
    return (f"   {change.get('occurred_at', '?'):<25} HEALTH   {change.get('customer_id')} "
            f"{moved} {band_text} {reasons}")


async def tail(settings: Settings, write: Callable[[str], None], from_beginning: bool = False,
               include_changes: bool = True, limit: int | None = None) -> int:
    topics = [settings.topic_alerts] + ([settings.topic_health_changes] if include_changes else [])
    shown = 0

    def show(message) -> None:
        nonlocal shown
        record = orjson.loads(message.value)
        write(format_alert(record) if message.topic == settings.topic_alerts else format_change(record))
        shown += 1

    return await read_topics(settings, topics, show, from_beginning=from_beginning,
                             until=lambda: limit is not None and shown >= limit)


def run_tail(settings: Settings, write, **options) -> None:
    try:
        asyncio.run(tail(settings, write, **options))
    except KeyboardInterrupt:
        pass
