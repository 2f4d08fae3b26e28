"""A Faust agent that takes batches of raw events and does nothing else: the most any Faust
agent can deliver on this machine, the ceiling `cshealth bench` measures the worker against.

The worker's delivery settings (raw bytes, the same take_events batches, stream buffer, fetch
size and Cython streams); no table, no outputs.

Run as `python -m streams.bench.do_nothing_agent` with the worker's CSHEALTH_* settings; GET /progress
returns {"events": n}, the events taken so far.
"""
from __future__ import annotations

import faust

from streams.runtime.app import BATCH_MAX, BATCH_WITHIN_S, DELIVERY_SETTINGS
from streams.runtime.faust_internals import run_worker
from streams.bench.naive_agent import add_progress_pages, bench_app
from streams.settings import Settings, load_settings


def build_app(settings: Settings) -> faust.App:
    app = bench_app(settings, store="memory://", **DELIVERY_SETTINGS)
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
    run_worker(build_app(settings), settings)


if __name__ == "__main__":
    main()
