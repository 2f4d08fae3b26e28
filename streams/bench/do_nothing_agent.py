"""A Faust agent that takes batches of raw events and does nothing else: the most any Faust
agent can deliver on this machine, the ceiling `cshealth bench` measures the worker against.

The worker's delivery settings (raw bytes, the same take_events batches, stream buffer, fetch
size and Cython streams); no table, no outputs. CSHEALTH_BENCH_DELIVERY picks how Kafka's
records reach the agent:
  stock     stock Faust (kafka://, Faust's Monitor, asyncio's loop)
  batched   one wait_first per fetched batch (streams/runtime/faust_delivery.py), the rest stock
  cshealth  what the worker runs: batched, the slim Monitor and uvloop (the default)

Run as `python -m streams.bench.do_nothing_agent` with the worker's CSHEALTH_* settings; GET /progress
returns {"events": n}, the events taken so far.
"""
from __future__ import annotations

import os

import faust

from streams.runtime.app import BATCH_MAX, BATCH_WITHIN_S, DELIVERY_SETTINGS
from streams.runtime.faust_delivery import app_options, broker_urls
from streams.runtime.faust_internals import run_worker
from streams.bench.naive_agent import add_progress_pages, bench_app
from streams.settings import Settings, load_settings

DELIVERIES = ("stock", "batched", "cshealth")


def build_app(settings: Settings, delivery: str = "cshealth") -> faust.App:
    if delivery not in DELIVERIES:
        raise ValueError(f"CSHEALTH_BENCH_DELIVERY: {delivery!r} is not one of {', '.join(DELIVERIES)}")
    # broker_consumer: Faust's setting for the consumer's transport (the producer's stays stock)
    app = bench_app(settings, store="memory://",
                    broker_consumer=broker_urls(settings.bootstrap_servers, batched=delivery != "stock"),
                    **DELIVERY_SETTINGS, **(app_options() if delivery == "cshealth" else {}))
    progress = {"events": 0, "ready": False}
    source = app.topic(*settings.input_topics, key_serializer="raw", value_serializer="raw")

    @app.agent(source, concurrency=1)
    async def take(stream):
        progress["ready"] = True
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            progress["events"] += len(events)

    add_progress_pages(app, progress)
    return app


def main() -> None:
    settings = load_settings()
    run_worker(build_app(settings, os.environ.get("CSHEALTH_BENCH_DELIVERY", "cshealth")), settings)


if __name__ == "__main__":
    main()
