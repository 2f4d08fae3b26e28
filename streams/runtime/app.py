"""The Faust application: topics, the per-customer state table, the agent, the sweep timer, web views.

Thin on purpose: the work per batch lives in streams.runtime.pipeline and the domain in handlers/.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Callable

import faust
from faust.types import TP

from handlers.config import HealthConfig, load_config
from streams.alerting.notifier import AlertmanagerNotifier
from streams.runtime.faust_delivery import app_options, broker_urls, use_uvloop
from streams.runtime import faust_internals
from streams.runtime.faust_internals import FaustPositions, event_context
from streams.runtime.gc_pacing import CollectorPacing
from streams.runtime.pipeline import Pipeline, PipelineOptions
from streams.runtime.read_order import ReadOrder
from streams.kafka.committed import CommittedOffsets
from streams.runtime.routing import InputRecord
from streams.telemetry.metrics import Metrics
from streams.settings import Settings
from streams.runtime.topics import PipelineTopics, internal_topics


# A batch is what arrived within BATCH_WITHIN_S, at most BATCH_MAX: small when the stream is live
# (latency), large in a backlog, where folding a customer's several events in one visit (one
# load, one evaluation, one write) doubles throughput from 2,000 to 8,000 (streams/bench/run.py).
# Faust's take_events waits the whole BATCH_WITHIN_S after each batch, holding back what came
# meanwhile, so every live event waits that long plus a batch's work: a short wait keeps the
# live batches, and the work they bring, small; a backlog's batches get smaller too, which costs
# catching-up speed (docs/performance.md, "Live batches": 0.1 s kept the tail under 1 s in one
# run at half the catch-up rate and not in the next, 0.05 s in both).
BATCH_MAX = 8000
BATCH_WITHIN_S = 0.05
SWEEP_INTERVAL_S = 1.0  # a tick per partition: each works through a sweep for a slice (Pipeline.sweep_slice_s)
TICK = b"tick"
# A batch's outputs and state writes wait in the outbox until the batch's end, except that a
# batch's sweeps send them whenever this many wait: the ticks sent while a backlog was read
# arrive together behind it, and that one batch sweeps every customer, whose records all
# waited at once (the worker's peak memory at 100,000 customers, tests/bench/worker_memory.py).
OUTBOX_DRAIN_RECORDS = 4 * BATCH_MAX
# How events reach the agent (shared with streams/bench/do_nothing_agent.py, the bench's do-nothing agent).
DELIVERY_SETTINGS = {
    "consumer_max_fetch_size": 8 * 1024 * 1024,
    "stream_buffer_maxsize": 2 * BATCH_MAX,  # take_events can only fill a batch from this buffer
    "cython_optimizations": True,
    "key_serializer": "raw",  # keys and values are raw bytes: CustomerState encodes itself
    "value_serializer": "raw",
}
# CSHEALTH_FAUST_DELIVERY: "batched" (default) delivers through streams/runtime/faust_delivery.py (one
# wait_first per fetched batch, the slim Monitor, uvloop), 1.3-1.6x the worker's rate of "stock",
# Faust's own consumer. Both deliver a partition's records out of order around a restart's seek;
# ReadOrder (streams/runtime/read_order.py) makes the worker fold them in order on either.
FAUST_DELIVERY_ENV = "CSHEALTH_FAUST_DELIVERY"
FAUST_DELIVERIES = ("batched", "stock")
COMMITTED_OFFSET_RETRY_S = 1.0
EXIT_KAFKA_WRITE_FAILED = 75  # EX_TEMPFAIL: a restart on the same state goes on where this one stopped
log = logging.getLogger("cshealth.worker")
CHANGELOG_COMPACTION = {"max.compaction.lag.ms": "60000", "min.cleanable.dirty.ratio": "0.2",
                        "segment.ms": str(60 * 60 * 1000)}


def faust_delivery() -> str:
    """The delivery CSHEALTH_FAUST_DELIVERY asks for (batched unless set)."""
    from streams.settings import SettingsError

    choice = os.environ.get(FAUST_DELIVERY_ENV, "").strip().lower() or FAUST_DELIVERIES[0]
    if choice not in FAUST_DELIVERIES:
        raise SettingsError(f"{FAUST_DELIVERY_ENV}: {choice!r}, expected one of {', '.join(FAUST_DELIVERIES)}")
    return choice


def use_delivery_loop() -> None:
    """First thing in a worker process: uvloop for batched delivery (a loop created before stays asyncio's)."""
    if faust_delivery() == "batched":
        use_uvloop()


def delivery_options(bootstrap_servers: str) -> dict:
    """faust.App keywords for how events reach the agent: the broker URLs (cshealth's consumer or
    Faust's) and Monitor of CSHEALTH_FAUST_DELIVERY, and DELIVERY_SETTINGS."""
    batched = faust_delivery() == "batched"
    return {"broker": broker_urls(bootstrap_servers, batched=batched), **DELIVERY_SETTINGS,
            **(app_options() if batched else {})}


def stop_at_once(reason: str) -> None:
    """End the process now with a non-zero exit: after a failed send or state write, a graceful
    stop would commit offsets past records whose outputs or state never reached Kafka. What
    was written stays in the local store and the changelog; the records after the last commit
    are read again by the next worker."""
    log.critical("%s: stopping the worker now, before any later offset is committed", reason)
    logging.shutdown()
    os._exit(EXIT_KAFKA_WRITE_FAILED)


class KafkaOutbox:
    """Collects a batch's records, sends them all and waits until Kafka acknowledged every one
    before the batch's events are acknowledged, so no offset commit passes a record (a state's
    changelog record, an output) that a crash could still lose.

    Handing them to the producer is not enough: it sends only when the agent yields the loop,
    and Faust's commit timer can run first, commit the batch's offsets and leave its records
    in the producer's buffer for a crash to take (a failed send elsewhere ended the worker
    that way, and one customer's event was neither in its state nor read again).
    Not Faust's send_soon either: its buffer drains one record per event-loop turn, and its
    flush gives up after 0.1 s without a send."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.pending: list[tuple] = []
        self.failure: BaseException | None = None

    def send(self, topic: str, key: bytes | None, value: bytes, headers: dict[str, bytes] | None = None,
             partition: int | None = None, on_sent: Callable[[Any], None] | None = None) -> None:
        self.pending.append((topic, key, value, list(headers.items()) if headers else None, partition, on_sent))

    async def drain(self) -> None:
        """Send everything (the producer batches it) and return once Kafka acknowledged it all;
        a failed send stops the worker, before the records it carried could be committed past."""
        self.raise_failure()
        pending, self.pending = self.pending, []
        send = self.app.producer.send
        futures = []
        for topic, key, value, headers, partition, on_sent in pending:
            future = await send(topic, key, value, partition, None, headers)
            future.add_done_callback(on_sent or self.note_failure)
            futures.append(future)
        if futures:
            await asyncio.wait(futures)
        self.raise_failure()

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise RuntimeError(f"a Kafka send failed: {self.failure!r}") from self.failure

    def note_failure(self, future) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.failure = future.exception()
            stop_at_once(f"a Kafka send failed: {self.failure!r}")


class FaustTableStore:
    """StateStore over a Faust table: the local store in the owning record's partition, and the
    changelog record through the outbox.

    Faust picks the RocksDB partition DB from the *current event*; a batch mixes partitions,
    so reads and writes run in the context of the record that owns the key. The changelog is
    written like Table.on_key_set does, minus Faust's producer buffer (see KafkaOutbox)."""

    def __init__(self, table: faust.Table, outbox: KafkaOutbox) -> None:
        self.table = table
        self.outbox = outbox
        self.changelog_topic = table.changelog_topic.get_topic_name()

    def get(self, key: bytes, origin: Any = None) -> bytes | None:
        with event_context(origin):
            return self.table.get(key)

    def put(self, key: bytes, value: bytes, origin: Any) -> None:
        try:
            with event_context(origin):
                self.table.data[key] = value
        except Exception as exc:
            stop_at_once(f"writing the state of {key!r} to the local store failed: {exc!r}")
        self.outbox.send(self.changelog_topic, key, value, partition=origin.message.partition,
                         on_sent=self._persisted)

    def _persisted(self, future) -> None:
        """What Faust's Table._on_changelog_sent does: remember the changelog offset the local
        store holds, so a restart with the same state dir replays only what came after."""
        if future.cancelled() or future.exception() is not None:
            self.outbox.note_failure(future)
            return
        sent = future.result()
        try:
            self.table.data.set_persisted_offset(TP(sent.topic, sent.partition), sent.offset)
        except Exception as exc:  # the local store failed (a full disk): as for a failed state write
            stop_at_once(f"writing the changelog offset of {sent.topic}[{sent.partition}] to the local store failed: {exc!r}")

    def keys(self):
        return self.table.keys()


def quiet_client_logs(level: str) -> None:
    """aiokafka and Faust log every produced record at debug level; keep them at the worker's level
    (at least info) so that formatting those lines never costs on the hot path."""
    threshold = max(logging.INFO, logging.getLevelName(level.upper()))
    for name in ("aiokafka", "faust", "mode"):
        logging.getLogger(name).setLevel(threshold)


def faust_credentials(settings: Settings):
    """Faust's broker credentials for exactly CSHEALTH_SECURITY_PROTOCOL: Faust derives the protocol
    from the credentials' type (and an SSL context), so each protocol gets the one type that gives
    it back, and a mismatch is refused rather than connecting differently from the other clients."""
    from streams.settings import SASL_PROTOCOLS, SettingsError

    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    options = settings.kafka_client_options()
    if protocol in SASL_PROTOCOLS:
        credentials = faust.SASLCredentials(username=options["sasl_plain_username"],
                                            password=options["sasl_plain_password"],
                                            mechanism=options["sasl_mechanism"], ssl_context=options.get("ssl_context"))
    else:
        credentials = faust.SSLCredentials(options["ssl_context"])
    if credentials.protocol.value != protocol:
        raise SettingsError(f"CSHEALTH_SECURITY_PROTOCOL: {protocol}, but Faust would connect with "
                            f"{credentials.protocol.value}")
    return credentials


class HealthWorker:
    """Builds the Faust app and wires the pipeline into it."""

    def __init__(self, settings: Settings, config: HealthConfig | None = None, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.config = config or load_config(settings.health_config)
        self.metrics = metrics or Metrics()
        self.metrics.preset(list(settings.input_topics), {
            name: rule.severity for name, rule in self.config.alerts if getattr(rule, "enabled", True)})
        self.topics = internal_topics(settings)
        self.folded_topics = frozenset({*settings.input_topics, self.topics["rekey"], self.topics["referral"]})
        self.recovered = False
        self.agent_failure: BaseException | None = None
        self.app = faust.App(
            settings.app_id,
            broker_credentials=faust_credentials(settings),
            store=settings.store,
            datadir=str(settings.state_dir),
            web_port=settings.web_port,
            web_bind=settings.web_host,
            # What other workers use to reach this one (the table route's redirect target): a
            # bind address like 0.0.0.0 is no address to reach.
            web_host=settings.advertised_host,
            # Faust's own views: /table would serve every customer's data, /router the cluster's
            # layout, /graph, the stats index and /performance the worker's internals; cshealth
            # serves only its views (streams/runtime/web.py). Routing to a key's owner needs none.
            web_tables_enabled=False,
            web_router_enabled=False,
            web_graph_enabled=False,
            web_stats_enabled=False,
            web_metrics_enabled=False,
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replication_factor,
            topic_disable_leader=True,
            broker_commit_interval=settings.commit_interval_s,
            # Faust's 60 s default kept a killed worker's partitions idle for a minute; the consumer
            # heartbeats from its own thread, so a busy batch does not look like a dead worker.
            broker_session_timeout=settings.session_timeout_s,
            broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
            consumer_auto_offset_reset="earliest",
            producer_max_request_size=4 * 1024 * 1024,
            # aiokafka holds one open batch per partition and a send waits when it is full until the
            # broker took it; Faust's 16 KiB default fits only ~5 cs.health records. (No throughput
            # change measured on its own: 1,640 vs 1,350 events/s in two noisy 30k-event runs.)
            producer_max_batch_size=1024 * 1024,
            table_cleanup_interval=3600.0,
            **delivery_options(settings.bootstrap_servers),
        )
        self.table = self.app.Table(
            "customer-state", default=None, partitions=settings.partitions, key_type=bytes, value_type=bytes,
            # Recovery reads the changelog one record at a time: let the log cleaner keep it near
            # one record per customer (the newest) instead of one per write of the last week.
            extra_topic_configs=CHANGELOG_COMPACTION,
            options={"write_buffer_size": int(settings.store_memtable_mib * 2**20)})
        self.outbox = KafkaOutbox(self.app)
        self.collector = CollectorPacing(
            observe=lambda collection, seconds: self.metrics.gc_pause.labels(collection).observe(seconds))
        self.store = FaustTableStore(self.table, self.outbox)
        self.notifier = AlertmanagerNotifier(settings.alertmanager_url, self.metrics) if settings.alertmanager_url else None
        if self.notifier:
            self.metrics.alertmanager_pending.set_function(self.notifier.pending_count)
        self.positions = FaustPositions(self.app, settings.input_topics)
        self.read_order = ReadOrder()
        self.committed_offsets = CommittedOffsets(settings, self.app.conf.id)  # the group id Faust consumes as
        self.pipeline = Pipeline(
            config=self.config, store=self.store, outbox=self.outbox, metrics=self.metrics,
            input_kinds=dict(settings.input_topics), partitions=settings.partitions,
            topics=PipelineTopics.of(settings), positions=self.positions,
            on_alert=self.notifier.submit if self.notifier else None,
            options=PipelineOptions(state_cache_size=settings.state_cache_customers,
                                    defer_max_s=settings.backlog_defer_s,
                                    watermark_idle_s=settings.watermark_idle_s,
                                    max_clock_skew_s=settings.max_clock_skew_s),
        )
        self._wire()

    def _wire(self) -> None:
        app, settings, pipeline = self.app, self.settings, self.pipeline
        source = app.topic(*settings.input_topics, self.topics["rekey"], self.topics["referral"], self.topics["ticks"],
                           key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
        ticks_topic = self.topics["ticks"]
        tick_sender = app.topic(ticks_topic, key_serializer="raw", value_serializer="raw")

        @app.agent(source, concurrency=1)  # concurrency > 1 can commit past unprocessed records (faust #606)
        async def fold(stream):
            quiet_client_logs(settings.log_level)
            try:
                await fold_batches(stream)
            except Exception as exc:  # /healthz answers 503 from now on
                self.agent_failure = exc
                raise

        async def fold_batches(stream):
            async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
                inputs, ticks, records = [], [], []
                assigned = app.consumer.assignment()
                for event in events:
                    # Taken before a rebalance moved its partition away: the new owner reads it
                    # again from the committed offset; folding it here would write stale state.
                    if event.message.tp in assigned:
                        (ticks if event.message.topic == ticks_topic else inputs).append(event)
                seen = {(event.message.topic, event.message.partition) for event in inputs}
                await self._start_read_order(seen)
                self.read_order.taken(seen)
                for event in inputs:
                    message = event.message
                    if not self.read_order.admit(message.topic, message.partition, message.offset):
                        faust_internals.drop_delivered(app, message)  # delivered again after the rewind
                        continue
                    records.append(InputRecord(
                        topic=message.topic, partition=message.partition, offset=message.offset,
                        key=message.key, value=message.value,
                        headers={k: v for k, v in (message.headers or ())}, origin=event))
                if records:
                    pipeline.process_batch(records)
                    self.collector.busy()
                else:  # nothing but ticks: caught up, evaluate what waited during a backlog
                    pipeline.evaluate_deferred()
                slice_s = pipeline.sweep_slice_s(len(ticks))
                for tick in ticks:
                    pipeline.sweep(tick.message.partition, tick, slice_s)
                    if len(self.outbox.pending) >= OUTBOX_DRAIN_RECORDS:
                        await self.outbox.drain()
                await self.outbox.drain()
                await self._rewind_holes()

        @app.timer(SWEEP_INTERVAL_S)
        async def sweep_and_gauges():
            if not self.recovered:
                return
            self.collector.tick()
            for partition in self.active_partitions():
                await tick_sender.send(key=TICK, value=TICK, partition=partition)
            self.update_gauges()

        if self.notifier:
            @app.task
            async def page_on_call():  # its own task: a slow or absent Alertmanager never delays a tick
                await self.notifier.run()  # cancelled when the worker stops; closes its session

        @self.table.on_recover
        async def learn_customers():
            keys = list(self.store.keys())
            for partition in self.active_partitions():
                pipeline.restore_partition(partition, keys)
            self.recovered = True
            self.metrics.recovery_complete.set(1)

        @app.on_partitions_assigned.connect
        async def on_assigned(sender, assigned, **kwargs):
            self.metrics.rebalances.inc()  # every rebalance ends with an assignment

        @app.on_partitions_revoked.connect
        async def on_revoked(sender, revoked, **kwargs):
            self.read_order.forget({(tp.topic, tp.partition) for tp in revoked})
            for partition in {tp.partition for tp in revoked if tp.topic == ticks_topic}:
                pipeline.forget_partition(partition)

        from streams.runtime.web import register_views

        register_views(self)

    async def _start_read_order(self, partitions: set[tuple[str, int]]) -> None:
        """Folded partitions among these not started since their assignment start at the offset
        committed in Kafka: Faust's copy when it has one, else asked over a client of cshealth's
        own (streams/kafka/committed.py: never through Faust's consumer thread, which a rebalance
        holds while it waits for this batch)."""
        new = self.read_order.unstarted(partitions)
        if not new:
            return
        tps = [TP(*key) for key in new]
        known = {tp: faust_internals.committed_offset(self.app, tp) for tp in tps}
        unknown = [tp for tp, offset in known.items() if offset is None]  # none, or not known since a rebalance
        while unknown:
            try:
                asked = await self.committed_offsets.of((tp.topic, tp.partition) for tp in unknown)
                known |= {TP(*key): offset for key, offset in asked.items()}
                break
            except Exception as exc:  # Kafka unreachable, or its coordinator moving: no record of these
                # partitions can be folded safely without it, so the agent waits as it does for records
                log.warning("asking Kafka for the committed offsets of %d partitions failed (%s): again in %.0f s",
                            len(unknown), exc, COMMITTED_OFFSET_RETRY_S)
                await asyncio.sleep(COMMITTED_OFFSET_RETRY_S)
        for tp, offset in known.items():
            self.read_order.start((tp.topic, tp.partition), offset)

    async def _rewind_holes(self) -> None:
        """Partitions delivered past a record they did not deliver are read again from it (see
        streams.runtime.read_order); holes confirmed as real are offsets commits may pass."""
        for (topic, partition), start, end in self.read_order.take_accepted_holes():
            faust_internals.count_as_acked(self.app, TP(topic, partition), start, end)
        for (topic, partition), (offset, past) in self.read_order.take_rewinds().items():
            await self._rewind(topic, partition, offset, "delivered offset %d before offset %d" % (past, offset))
        # Partitions with records never delivered (see ReadOrder.take_stalled); those no record of
        # which came yet are started from the committed offset first, their records may be lost too.
        unstarted = self.read_order.unstarted(set(self._folded_partitions()))
        await self._start_read_order({key for key in unstarted if self.positions.end_offset(*key)})
        for (topic, partition), offset in self.read_order.take_stalled(lambda key: self.positions.end_offset(*key)).items():
            await self._rewind(topic, partition, offset, "has records from offset %d that never came" % offset)

    async def _rewind(self, topic: str, partition: int, offset: int, why: str) -> None:
        tp = TP(topic, partition)
        if tp not in self.app.consumer.assignment():
            return
        log.warning("%s:%d %s: reading again from %d", topic, partition, why, offset)
        self.metrics.input_rewinds.inc()
        try:
            await faust_internals.rewind(self.app, tp, offset)
        except Exception as exc:  # e.g. revoked meanwhile: ReadOrder asks for it again
            log.warning("rewinding %s:%d to %d failed (%s): tried again", topic, partition, offset, exc)

    def _folded_partitions(self) -> list[tuple[str, int]]:
        """The assigned partitions the agent folds (inputs, re-keyed events, referral credits)."""
        return [(tp.topic, tp.partition) for tp in self.app.assignor.assigned_actives() if tp.topic in self.folded_topics]

    def active_partitions(self) -> set[int]:
        ticks_topic = self.topics["ticks"]
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == ticks_topic}

    def update_gauges(self) -> None:
        self.metrics.assigned_partitions.set(len(self.active_partitions()))
        self.metrics.customers.clear()
        for (band, segment), n in self.pipeline.band_counts.items():
            self.metrics.customers.labels(band, segment).set(n)
        for tp in self.app.assignor.assigned_actives():
            if tp.topic in self.settings.input_topics:
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(self.positions.lag(tp))
