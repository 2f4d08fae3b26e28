"""What the worker's exactly-once folding asks of Faust's delivery, under kill -9, for cshealth's
batched delivery (the worker's default, streams/runtime/faust_delivery.py). Stock delivery
(CSHEALTH_FAUST_DELIVERY=stock) is Faust's own consumer, opt-in; the suite does not spend this
test's time on it. Where either delivers a partition out of order around a seek, the worker's
ReadOrder (streams/runtime/read_order.py) rewinds the partition rather than fold past a record.

A state remembers the last offset applied per input partition and skips records at or below it
(streams/runtime/pipeline.py), so delivery must never let a record be passed over for good:
- within one process, each partition's records reach the agent without a gap (going back, to
  re-read after a seek, is harmless);
- a restarted process starts each partition at or before the first record no earlier process
  finished, so commits never pass a record the agent has not finished.

This module, run with -m, is the agent: the worker's delivery (app.delivery_options, its loop,
take_events in the worker's batches, its commit settings), but instead of folding, each batch's
offsets are appended to a journal file before the batch is acknowledged. A kill -9 keeps what
was written; the test kills it at several points of a backlog and reads the journals.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.stream.test_faust_delivery import PARTITIONS, committed, produce, run_agent

RECORDS = 80_000
KILLS = 4
KILL_AFTER = 5_000  # records journaled by a run before it is killed


def build_agent_app(settings, topic: str, journal: Path):
    import faust

    from streams.runtime.app import BATCH_MAX, BATCH_WITHIN_S, delivery_options

    app = faust.App(settings.app_id, store="memory://", datadir=str(settings.state_dir),
                    web_port=settings.web_port, web_bind=settings.web_host, web_host=settings.web_host,
                    consumer_auto_offset_reset="earliest", broker_session_timeout=settings.session_timeout_s,
                    broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
                    # commits often, also between the messages of one fetched batch
                    broker_commit_interval=0.2, broker_commit_every=500,
                    **delivery_options(settings.bootstrap_servers))
    out = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    @app.agent(app.topic(topic, partitions=PARTITIONS), concurrency=1)
    async def take(stream):
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            lines = "".join(f"{e.message.generation_id} {e.message.partition} {e.message.offset}\n" for e in events)
            await asyncio.sleep(0.05)  # a slower agent: the stream buffer fills, the fetcher waits
            os.write(out, lines.encode())  # in the kernel before take_events acknowledges the batch

    return app


def main() -> None:
    from streams.runtime.app import use_delivery_loop

    run_agent(lambda settings: build_agent_app(settings, os.environ["FAUST_DELIVERY_TEST_TOPIC"],
                                               Path(os.environ["FAUST_DELIVERY_TEST_JOURNAL"])),
              use_loop=use_delivery_loop)


def read_journal(path: Path) -> list[tuple[int, int, int]]:
    if not path.exists():
        return []
    return [tuple(map(int, line.split())) for line in path.read_text().splitlines()]


def gaps(journal: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(partition, after, next): a partition's next record further on than one past the last."""
    last: dict[int, int] = {}
    found = []
    for _, partition, offset in journal:
        if partition in last and offset > last[partition] + 1:
            found.append((partition, last[partition], offset))
        last[partition] = offset
    return found


@pytest.mark.kafka
@pytest.mark.timeout(600)
@pytest.mark.parametrize("delivery", ["batched"])  # ["stock"] too to check Faust's own consumer
def test_kill_9_never_passes_a_record_over(kafka_bootstrap, unique_prefix, tmp_path, delivery):
    from streams.devstack.processes import WorkerProcess, stack_env
    from tests.support.conditions import eventually

    topic, group = f"{unique_prefix}.events", f"{unique_prefix}-crash"
    ends = asyncio.run(produce(kafka_bootstrap, topic, RECORDS))
    finished: dict[int, int] = {}  # partition -> highest offset a finished run journaled
    for run in range(KILLS + 1):
        journal = tmp_path / f"journal-{run}"
        env = stack_env(kafka_bootstrap, group, PARTITIONS) | {
            "FAUST_DELIVERY_TEST_TOPIC": topic, "FAUST_DELIVERY_TEST_JOURNAL": str(journal),
            "CSHEALTH_FAUST_DELIVERY": delivery, "CSHEALTH_SESSION_TIMEOUT_S": "6"}
        agent = WorkerProcess(env, tmp_path / "state", tmp_path / f"agent-{run}.log",
                              command=("-m", "tests.stream.test_faust_delivery_crash")).start()
        try:
            if run < KILLS:
                eventually(lambda: len(read_journal(journal)) >= KILL_AFTER, timeout=240, interval=0.1,
                           message=lambda: f"run {run}: {len(read_journal(journal))} journaled: {agent.tail_log()}")
                agent.kill()
            else:
                eventually(lambda: asyncio.run(committed(kafka_bootstrap, group)) == ends, timeout=240)
        finally:
            agent.stop()
        entries = read_journal(journal)
        assert gaps(entries) == [], (run, gaps(entries)[:5])
        first: dict[int, int] = {}
        for _, partition, offset in entries:
            first.setdefault(partition, offset)
        # where this run started each partition: at or before the first record no earlier run finished
        assert all(offset <= finished.get(partition, -1) + 1 for partition, offset in first.items()), (
            run, first, finished)
        for _, partition, offset in entries:
            finished[partition] = max(finished.get(partition, -1), offset)
        if run < KILLS:  # the kill came mid-backlog: the next run has records left to start at
            assert any(finished.get(p, -1) < end - 1 for p, end in ends.items()), (run, finished)
    assert finished == {p: end - 1 for p, end in ends.items()}


if __name__ == "__main__":
    main()
