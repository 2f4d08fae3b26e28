"""The fold written the way the Faust user guide teaches: the baseline `cshealth bench` compares the worker with.

One `faust.Record` per topic, one agent per topic with `async for event in stream`, the
customer's state read from a table, folded with handlers.customer.apply + advance and
written back for every event (so one changelog record per event). Health changes and
alerts go out with `await topic.send`, referral credits through a topic of their own.
It does not emit cs.health snapshots (the worker does), so the comparison flatters it.

Run as `python -m streams.bench.naive_agent` with the worker's CSHEALTH_* settings; GET /progress
returns {"events": n}, the events folded so far (referral credits included).
"""
from __future__ import annotations

from typing import Any

import faust

from handlers.config import HealthConfig, load_config
from handlers.customer import advance, apply, derived_events
from handlers.events import MODELS
from handlers.state import CustomerState
from streams.runtime.faust_internals import run_worker
from streams.settings import Settings, load_settings


class Event(faust.Record, abstract=True):
    event_id: str
    customer_id: str
    occurred_at: Any  # ISO-8601 string or epoch milliseconds


class Purchase(Event):
    amount: float
    currency: str
    kind: str
    order_id: str = None
    referred_by: str = None
    contract_value: float = None


class Survey(Event):
    kind: str
    score: int
    respondent: str = None
    comment: str = None
    touchpoint: str = None


class Ticket(Event):
    ticket_id: str
    status: str
    category: str
    priority: str
    channel: str = None


class Mention(Event):
    source: str
    sentiment: float = None
    text: str = None
    reach: int = None


class Interaction(Event):
    direction: str
    channel: str


class Account(Event):
    segment: str = None
    plan: str = None
    owner: str = None
    signed_up_at: Any = None
    activated_at: Any = None
    cancelled_at: Any = None


class ReferralCredit(Event):
    referred_customer_id: str
    source_event_id: str


RECORDS = {"purchase": Purchase, "survey": Survey, "ticket": Ticket, "mention": Mention,
           "interaction": Interaction, "account": Account}


def to_domain(kind: str, record: Event):
    # Records fill absent fields with None; the contract rejects explicit nulls, so drop them.
    return MODELS[kind].model_validate({k: v for k, v in record.asdict().items() if v is not None})


def bench_app(settings: Settings, **options) -> faust.App:
    """A Faust app on the worker's broker, port and state dir, with Faust's defaults otherwise."""
    from streams.runtime.app import faust_credentials

    return faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(settings),  # the worker's security settings
        datadir=str(settings.state_dir),
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        topic_partitions=settings.partitions,
        consumer_auto_offset_reset="earliest",
        **options,
    )


def build_app(settings: Settings, config: HealthConfig) -> faust.App:
    app = bench_app(settings, store=settings.store)
    states = app.Table("customer-state", default=None, partitions=settings.partitions, key_type=str, value_type=bytes)
    changes = app.topic(settings.topic_health_changes)
    alerts = app.topic(settings.topic_alerts)
    referrals = app.topic(f"{settings.app_id}-referral-credits", value_type=ReferralCredit,
                          partitions=settings.partitions, internal=True)  # internal: Faust creates it
    progress = {"events": 0, "ready": False, "watermark_ms": 0}

    async def fold(kind: str, record: Event) -> None:
        event = to_domain(kind, record)
        raw = states.get(event.customer_id)
        state = CustomerState.from_bytes(raw) if raw else CustomerState.new(event.customer_id)
        progress["watermark_ms"] = max(progress["watermark_ms"], event.occurred_at_ms)
        apply(state, event, config)
        outputs = advance(state, progress["watermark_ms"], config)
        states[event.customer_id] = state.to_bytes()  # reassigned, or the changelog never sees it
        for change in outputs.health_changes:
            await changes.send(key=event.customer_id.encode(), value=change)
        for alert in outputs.alerts:
            await alerts.send(key=event.customer_id.encode(), value=alert)
        for derived in derived_events(event):
            await referrals.send(key=derived.customer_id.encode(), value=ReferralCredit(
                event_id=derived.event_id, customer_id=derived.customer_id, occurred_at=derived.occurred_at_ms,
                referred_customer_id=derived.referred_customer_id, source_event_id=derived.source_event_id))
        progress["events"] += 1

    def add_agent(topic: faust.TopicT, kind: str) -> None:
        @app.agent(topic, name=f"naive-fold-{kind}")
        async def fold_kind(stream):
            async for record in stream:
                await fold(kind, record)

    for topic_name, kind in settings.input_topics.items():
        add_agent(app.topic(topic_name, value_type=RECORDS[kind]), kind)
    add_agent(referrals, "referral_credit")

    @states.on_recover
    async def recovered():
        progress["ready"] = True

    add_progress_pages(app, progress)
    return app


def add_progress_pages(app: faust.App, progress: dict) -> None:
    """GET /progress -> {"events": n} and /readyz (503 until progress["ready"]): what the bench polls."""
    @app.page("/progress")
    async def progress_view(web, request):
        return web.json({"events": progress["events"]})

    @app.page("/readyz")
    async def readyz(web, request):
        return web.json({"ready": progress["ready"]}, status=200 if progress["ready"] else 503)


def main() -> None:
    settings = load_settings()
    run_worker(build_app(settings, load_config(settings.health_config)), settings)


if __name__ == "__main__":
    main()
