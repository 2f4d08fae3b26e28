"""streams.runtime.faust_delivery: Faust's consumer with one wait_first per fetched batch.

The fetch loop it replaces is pinned (a hash of its source), then both consumers, stock Faust's
and cshealth's, run the same scenarios through the real fetch loop and getmany with the fetch
from Kafka stubbed out: the same messages reach the callback in the same order, with the same
read offsets, gaps and commits, and a suspended flow stops both mid-batch. A real-broker test
runs a small agent (this module, run with -m) on cshealth delivery and checks order and commits.
"""
from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import sys
import time
import uuid
from importlib.metadata import version
from types import SimpleNamespace

import pytest

import faust
from faust.sensors import Monitor
from faust.transport.consumer import Consumer as UpstreamConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.runtime import faust_delivery
from streams.runtime.faust_delivery import BatchDeliveryConsumer, SlimMonitor, app_options, broker_urls, use_uvloop

# What faust_delivery.BatchDeliveryConsumer._drain_messages was written against: when Faust's
# changes, read the new one and carry what changed over (or drop the override), then update these.
FAUST_VERSION = "0.15.3"
DRAIN_MESSAGES_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"
# getmany checks the flow and the consumer generation between the messages it yields; the
# batched delivery repeats those checks between the messages it delivers.
GETMANY_SHA256 = "4b168d84882a70d6e3e2f9804430a63b92f8fd117d3187cbb4aeb54305bda34e"

TOPIC = "events"
TP0, TP1 = TP(TOPIC, 0), TP(TOPIC, 1)


# -- pinned upstream ------------------------------------------------------------------------------
def test_the_pinned_faust_version_is_installed():
    assert version("faust-streaming") == FAUST_VERSION


def test_the_overridden_fetch_loop_is_the_one_written_against():
    source = inspect.getsource(UpstreamConsumer._drain_messages)
    assert hashlib.sha256(source.encode()).hexdigest() == DRAIN_MESSAGES_SHA256, (
        "faust's Consumer._drain_messages changed: review BatchDeliveryConsumer against it")
    assert "_drain_messages" not in vars(faust_aiokafka.Consumer)  # the driver inherits the base class's


def test_the_checks_between_messages_are_those_written_against():
    source = inspect.getsource(UpstreamConsumer.getmany)
    assert hashlib.sha256(source.encode()).hexdigest() == GETMANY_SHA256, (
        "faust's Consumer.getmany changed: does BatchDeliveryConsumer._deliver_until_commit check the same?")
    assert "getmany" not in vars(faust_aiokafka.Consumer)


def test_what_the_slim_monitor_keeps_is_what_the_stall_check_reads():
    check = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread.verify_event_path)
    assert "monitor.stream_inbound_time" in check
    assert "self.stream_inbound_time[tp] = monotonic()" in inspect.getsource(Monitor.on_stream_event_in)
    assert "track_tp_end_offset" not in vars(SlimMonitor)  # getmany's call keeps Faust's


# -- the registry ---------------------------------------------------------------------------------
def test_the_url_scheme_picks_the_transport():
    from faust.transport import by_url

    assert by_url(broker_urls("h:1", batched=True)[0]) is faust_delivery.Transport
    assert by_url(broker_urls("h:1", batched=False)[0]) is faust_aiokafka.Transport
    assert faust_delivery.Transport.Consumer is BatchDeliveryConsumer
    assert broker_urls("a:1, b:2") == ["cshealth-kafka://a:1", "cshealth-kafka://b:2"]


# -- both consumers through the real fetch loop, Kafka stubbed out --------------------------------
def record(tp: TP, offset: int) -> SimpleNamespace:
    """What aiokafka's getmany returns, as the driver's _to_message reads it."""
    return SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset, timestamp=0, timestamp_type=0,
                           headers=[], key=b"k", value=b"v", checksum=None, serialized_key_size=1,
                           serialized_value_size=1)


class Rig:
    """A consumer of the given transport whose fetches return `batches`, then stop the fetcher.

    `log` is what happened, in order: ("in", tp partition, offset) when the callback starts,
    ("out", ...) when it returns, ("commit",) for each commit."""

    def __init__(self, scheme: str, batches: list[dict[TP, list[int]]], on_message=None) -> None:
        self.app = faust.App(f"rig-{uuid.uuid4().hex[:6]}", broker=f"{scheme}://127.0.0.1:1")
        self.app.finalize()
        self.log: list[tuple] = []
        self.on_message = on_message
        self.consumer = self.app.transport.create_consumer(
            callback=self.callback, on_partitions_revoked=None, on_partitions_assigned=None)
        self.batches = list(batches)
        self.fetcher = SimpleNamespace(_stopped=asyncio.Event())
        consumer = self.consumer
        consumer.highwater = lambda tp: 1_000_000
        consumer._wait_next_records = self.fetch
        consumer.commit = self.commit
        self.wait_firsts = 0
        wait_first = consumer.wait_first

        async def counting_wait_first(*coros, **kwargs):
            self.wait_firsts += 1
            return await wait_first(*coros, **kwargs)

        consumer.wait_first = counting_wait_first

    async def fetch(self, timeout: float):
        if not self.batches or not self.consumer.flow_active:
            self.fetcher._stopped.set()
            return None, None
        batch = self.batches.pop(0)
        return {tp: [record(tp, offset) for offset in offsets] for tp, offsets in batch.items()}, None

    async def callback(self, message) -> None:
        self.log.append(("in", message.partition, message.offset))
        if self.on_message:
            await self.on_message(self, message)
        self.log.append(("out", message.partition, message.offset))

    async def commit(self, *args, **kwargs) -> bool:
        self.log.append(("commit",))
        await asyncio.sleep(0)
        return True

    async def run(self, timeout_s: float = 5.0) -> "Rig":
        await asyncio.wait_for(self.consumer._drain_messages(self.fetcher), timeout_s)
        return self

    def read_offsets(self) -> dict:
        return {tp: offset for tp, offset in self.consumer._read_offset.items() if offset is not None}


SCHEMES = ("kafka", faust_delivery.SCHEME)


def both(scenario) -> tuple[Rig, Rig]:
    """The scenario with stock Faust's consumer and with cshealth's."""
    async def run_both():
        return [await scenario(scheme) for scheme in SCHEMES]
    stock, batched = asyncio.run(run_both())
    assert isinstance(stock.consumer, faust_aiokafka.Consumer) and not isinstance(stock.consumer, BatchDeliveryConsumer)
    assert isinstance(batched.consumer, BatchDeliveryConsumer)
    return stock, batched


def test_every_message_arrives_in_order_with_one_wait_first_per_batch():
    batches = [{TP0: list(range(0, 300)), TP1: list(range(0, 250))}, {TP0: list(range(300, 400))}]

    async def scenario(scheme):
        return await Rig(scheme, batches).run()

    stock, batched = both(scenario)
    assert batched.log == stock.log
    assert [entry[1:] for entry in stock.log if entry[0] == "out"][:4] == [(0, 0), (1, 0), (0, 1), (1, 1)]  # round robin
    assert len([entry for entry in batched.log if entry[0] == "out"]) == 650
    assert batched.read_offsets() == stock.read_offsets() == {TP0: 399, TP1: 249}
    assert stock.wait_firsts == 650
    assert batched.wait_firsts == 2


def test_gaps_and_dropped_offsets_are_recorded_like_upstream(monkeypatch):
    # 3..6 skipped (compaction, transaction markers): a gap that counts as acked; 1 again: dropped
    batches = [{TP0: [0, 1, 2, 7, 8]}, {TP0: [1, 9]}]

    async def scenario(scheme):
        rig = Rig(scheme, batches)
        monkeypatch.setattr(rig.app.topics, "acks_enabled_for", lambda topic: True)
        return await rig.run()

    stock, batched = both(scenario)
    assert batched.log == stock.log
    assert [entry[2] for entry in batched.log if entry[0] == "out"] == [0, 1, 2, 7, 8, 9]
    assert sorted(batched.consumer._gap[TP0]) == sorted(stock.consumer._gap[TP0])
    assert [(i.begin, i.end) for i in sorted(batched.consumer._gap[TP0])] == [(3, 8)]  # upstream's: up to 7 included


def test_commits_every_n_acks_fall_between_the_same_messages():
    batches = [{TP0: list(range(10)), TP1: list(range(5))}]

    async def ack(rig, message):
        rig.consumer._n_acked += 1  # what Consumer.ack counts

    async def scenario(scheme):
        rig = Rig(scheme, batches, on_message=ack)
        rig.consumer._commit_every = 4
        return await rig.run()

    stock, batched = both(scenario)
    assert batched.log == stock.log
    assert batched.log.count(("commit",)) == 3  # after the 4th, 8th and 12th message


def test_a_flow_stopped_by_a_message_ends_the_batch_there():
    batches = [{TP0: list(range(50)), TP1: list(range(50))}]

    async def stop_at_20(rig, message):
        if (message.partition, message.offset) == (0, 20):
            rig.consumer.stop_flow()  # what a rebalance does (app.on_rebalance_start)

    async def scenario(scheme):
        return await Rig(scheme, batches, on_message=stop_at_20).run()

    stock, batched = both(scenario)
    assert batched.log == stock.log
    assert batched.log[-1] == ("out", 0, 20)
    assert batched.read_offsets() == stock.read_offsets() == {TP0: 20, TP1: 19}


def test_a_suspension_frees_a_fetcher_stuck_in_a_callback_mid_batch():
    """A callback waiting (a full stream buffer, suspended flow control) when a rebalance starts:
    the fetcher lets go of it and delivers nothing more of the batch."""
    batches = [{TP0: list(range(50)), TP1: list(range(50))}]

    async def stuck_at_30(rig, message):
        if (message.partition, message.offset) == (1, 30):
            asyncio.get_running_loop().call_later(0.05, rig.consumer.stop_flow)
            await asyncio.Event().wait()  # never set: only the suspension ends this

    async def scenario(scheme):
        return await Rig(scheme, batches, on_message=stuck_at_30).run()

    stock, batched = both(scenario)
    assert batched.log == stock.log
    assert batched.log[-2:] == [("out", 0, 30), ("in", 1, 30)]  # never came out: cancelled
    # upstream marks the message it let go of read too; the seek to the committed offsets that
    # follows every rebalance (recovery) resets these
    assert batched.read_offsets() == stock.read_offsets() == {TP0: 30, TP1: 30}


def test_a_new_consumer_generation_ends_the_batch():
    batches = [{TP0: list(range(10)), TP1: list(range(10))}]

    async def new_generation_at_5(rig, message):
        if (message.partition, message.offset) == (0, 5):
            rig.app.consumer_generation_id += 1

    async def scenario(scheme):
        return await Rig(scheme, batches, on_message=new_generation_at_5).run()

    stock, batched = both(scenario)
    assert batched.log == stock.log
    assert batched.log[-1] == ("out", 0, 5)


def test_a_failing_callback_stops_the_fetch_loop_with_its_error():
    async def fail_at_3(rig, message):
        if message.offset == 3:
            raise KeyError("boom")

    async def scenario(scheme):
        rig = Rig(scheme, [{TP0: list(range(10))}], on_message=fail_at_3)
        with pytest.raises(KeyError):
            await rig.run()
        return rig

    stock, batched = both(scenario)
    assert batched.log == stock.log
    assert batched.log[-1] == ("in", 0, 3)


# -- the slim Monitor and the loop ----------------------------------------------------------------
def test_the_slim_monitor_keeps_the_stall_checks_inputs():
    async def scenario():
        monitor = SlimMonitor()
        before = time.monotonic()
        monitor.on_message_in(TP0, 5, SimpleNamespace())
        assert monitor.on_stream_event_in(TP0, 5, object(), object()) is None
        monitor.on_stream_event_out(TP0, 5, object(), object(), None)
        monitor.on_message_out(TP0, 5, SimpleNamespace())
        monitor.track_tp_end_offset(TP0, 42)
        assert before <= monitor.stream_inbound_time[TP0] <= time.monotonic()
        assert monitor.tp_end_offsets[TP0] == 42
        assert monitor.messages_received_total == 0  # the bookkeeping it drops

    asyncio.run(scenario())


def test_use_uvloop_runs_the_app_and_its_worker_on_one_uvloop_loop():
    """In a fresh interpreter, as a worker process starts: the app's loop is the worker's, uvloop's."""
    import subprocess

    code = ("import uvloop, faust; from streams.runtime.faust_delivery import app_options, broker_urls, "
            "use_uvloop, SlimMonitor; use_uvloop();"
            "app = faust.App('x', broker=broker_urls('127.0.0.1:1'), **app_options());"
            "worker = faust.Worker(app, console_port=None);"
            "assert isinstance(app.loop, uvloop.Loop) and worker.loop is app.loop, (app.loop, worker.loop);"
            "assert isinstance(app.monitor, SlimMonitor)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_app_options_have_no_side_effects():
    """HealthWorker may be built several times in one (test) process."""
    assert app_options() == app_options() == {"Monitor": SlimMonitor}


# -- the worker's choice: CSHEALTH_FAUST_DELIVERY ---------------------------------------------------
@pytest.mark.parametrize("choice, consumer, monitor", [
    (None, BatchDeliveryConsumer, SlimMonitor), (" Stock ", faust_aiokafka.Consumer, Monitor),
    ("batched", BatchDeliveryConsumer, SlimMonitor)])
def test_the_worker_delivers_as_cshealth_faust_delivery_says(monkeypatch, tmp_path, choice, consumer, monitor):
    from streams.runtime.app import HealthWorker
    from streams.settings import load_settings

    monkeypatch.setenv("CSHEALTH_STATE_DIR", str(tmp_path))
    if choice is None:
        monkeypatch.delenv("CSHEALTH_FAUST_DELIVERY", raising=False)
    else:
        monkeypatch.setenv("CSHEALTH_FAUST_DELIVERY", choice)
    app = HealthWorker(load_settings()).app
    assert type(app.consumer) is consumer and type(app.monitor) is monitor


def test_an_unknown_delivery_is_refused(monkeypatch):
    from streams.runtime.app import delivery_options
    from streams.settings import SettingsError

    monkeypatch.setenv("CSHEALTH_FAUST_DELIVERY", "fast")
    with pytest.raises(SettingsError, match="CSHEALTH_FAUST_DELIVERY"):
        delivery_options("127.0.0.1:1")


# -- a real broker: a small agent on cshealth delivery --------------------------------------------
# This module, run with -m, is the agent: it takes raw events in batches and does nothing but note
# what it saw; GET /progress returns {"events", "out_of_order", "seen": {partition: [offsets]},
# "generations": consumer generations it took events in, "loop": its event loop's module}.
PARTITIONS = 4


def build_agent_app(settings, topic: str, batch_delay_s: float) -> faust.App:
    app = faust.App(settings.app_id, broker=broker_urls(settings.bootstrap_servers), store="memory://",
                    datadir=str(settings.state_dir), web_port=settings.web_port, web_bind=settings.web_host,
                    web_host=settings.web_host, consumer_auto_offset_reset="earliest",
                    broker_commit_interval=0.5, key_serializer="raw", value_serializer="raw", **app_options())
    seen: dict[int, list[int]] = {}
    last: dict[tuple[int, int], int] = {}  # (partition, consumer generation) -> offset
    progress = {"events": 0, "out_of_order": 0}

    @app.agent(app.topic(topic, partitions=PARTITIONS), concurrency=1)
    async def take(stream):
        async for events in stream.take_events(100, within=0.1):
            for event in events:
                message = event.message
                generation = (message.partition, message.generation_id)  # a rebalance re-reads from the commit
                if last.get(generation, -1) >= message.offset:
                    progress["out_of_order"] += 1
                last[generation] = message.offset
                seen.setdefault(message.partition, []).append(message.offset)
                progress["events"] += 1
            await asyncio.sleep(batch_delay_s)  # a slower agent: time for a rebalance mid-stream

    @app.page("/progress")
    async def progress_view(web, request):
        return web.json(progress | {"seen": seen, "generations": len({g for _, g in last}),
                                    "loop": type(asyncio.get_running_loop()).__module__})

    return app


def run_agent(build, use_loop=use_uvloop) -> None:
    """Run a test agent as a worker process: its event loop chosen first, then `build(settings)`'s
    app, ready (GET /readyz) once it serves."""
    from streams.runtime.faust_internals import run_worker
    from streams.settings import load_settings

    use_loop()
    settings = load_settings()
    app = build(settings)

    @app.page("/readyz")
    async def readyz(web, request):
        return web.json({"ready": True})

    run_worker(app, settings)


def main() -> None:
    run_agent(lambda settings: build_agent_app(settings, os.environ["FAUST_DELIVERY_TEST_TOPIC"],
                                               float(os.environ.get("FAUST_DELIVERY_TEST_BATCH_DELAY_S", "0"))))


async def produce(bootstrap: str, topic: str, count: int) -> dict[int, int]:
    """`count` records spread over the topic's partitions; the end offset of each partition."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for i in range(count):
            await producer.send(topic, value=b"%d" % i, partition=i % PARTITIONS)
        await producer.flush()
    finally:
        await producer.stop()
    return {p: len(range(p, count, PARTITIONS)) for p in range(PARTITIONS)}


async def committed(bootstrap: str, group: str) -> dict[int, int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


def start_agent(bootstrap: str, group: str, topic: str, tmp_path, name: str, batch_delay_s: float = 0.0):
    from streams.devstack.processes import WorkerProcess, stack_env

    env = stack_env(bootstrap, group, PARTITIONS) | {
        "FAUST_DELIVERY_TEST_TOPIC": topic, "FAUST_DELIVERY_TEST_BATCH_DELAY_S": str(batch_delay_s)}
    agent = WorkerProcess(env, tmp_path / f"{name}-state", tmp_path / f"{name}.log",
                          command=("-m", "tests.stream.test_faust_delivery"))
    return agent.start()


@pytest.mark.kafka
@pytest.mark.timeout(240)
def test_a_real_broker_delivers_every_record_in_order_and_commits_the_end(kafka_bootstrap, unique_prefix, tmp_path):
    from tests.support.conditions import eventually

    topic, group = f"{unique_prefix}.events", f"{unique_prefix}-delivery"
    ends = asyncio.run(produce(kafka_bootstrap, topic, 20_000))
    agent = start_agent(kafka_bootstrap, group, topic, tmp_path, "agent")
    try:
        agent.wait_ready(timeout_s=120)
        progress = eventually(lambda: (p := agent.get("/progress")[1])["events"] >= 20_000 and p, timeout=120)
        assert progress["out_of_order"] == 0 and progress["loop"].startswith("uvloop")
        assert {int(p): offsets for p, offsets in progress["seen"].items()} == {
            p: list(range(end)) for p, end in ends.items()}  # each exactly once, in order
        eventually(lambda: asyncio.run(committed(kafka_bootstrap, group)) == ends, timeout=60)
    finally:
        agent.stop()


@pytest.mark.kafka
@pytest.mark.timeout(300)
def test_a_rebalance_mid_stream_loses_nothing(kafka_bootstrap, unique_prefix, tmp_path):
    """A second agent joins while the first is half-way: the first's flow is suspended mid-batch,
    partitions move, and between them every record is seen, each partition in order within a
    consumer generation, and the group's commits reach the end."""
    from tests.support.conditions import eventually

    topic, group = f"{unique_prefix}.events", f"{unique_prefix}-rebalance"
    ends = asyncio.run(produce(kafka_bootstrap, topic, 20_000))
    first = start_agent(kafka_bootstrap, group, topic, tmp_path, "first", batch_delay_s=0.1)
    second = None
    try:
        first.wait_ready(timeout_s=120)
        eventually(lambda: first.get("/progress")[1]["events"] >= 3000, timeout=120)
        second = start_agent(kafka_bootstrap, group, topic, tmp_path, "second", batch_delay_s=0.1)
        second.wait_ready(timeout_s=120)

        def seen_everything():
            progresses = [agent.get("/progress")[1] for agent in (first, second)]
            seen = {p: set() for p in ends}
            for progress in progresses:
                for p, offsets in progress["seen"].items():
                    seen[int(p)].update(offsets)
            return all(seen[p] == set(range(end)) for p, end in ends.items()) and progresses

        progresses = eventually(seen_everything, timeout=180, ignoring=(OSError,))
        assert all(progress["out_of_order"] == 0 for progress in progresses)
        assert all(progress["events"] > 0 for progress in progresses)  # both had partitions
        assert progresses[0]["generations"] >= 2 and progresses[0]["events"] < 20_000  # moved mid-stream
        eventually(lambda: asyncio.run(committed(kafka_bootstrap, group)) == ends, timeout=60)
    finally:
        first.stop()
        if second:
            second.stop()


if __name__ == "__main__":
    main()
