"""cshealth delivery: Faust's Kafka consumer handing each fetched batch to the streams under one
`wait_first`, a Monitor that keeps only what the consumer's stall check reads, and uvloop.

A worker process uses all three with `use_uvloop()` first, then
`faust.App(..., broker=broker_urls(bootstrap_servers), **app_options())`.

Faust's fetch loop (faust/transport/consumer.py, `Consumer._drain_messages`) awaits
`self.wait_first(callback(message), self.suspend_flow.wait())` for every message: four tasks,
an `asyncio.wait` and three cancellations per message, about half of the CPU a do-nothing
agent spends per event (docs/faust-delivery.md). The wait exists so that a rebalance, which suspends the
flow, frees a fetcher stuck in a callback (a full stream buffer, suspended flow control).
`BatchDeliveryConsumer` delivers a whole batch as one task under one such wait, and checks
the flow between messages, so a suspension still stops delivery mid-batch.

It plugs in through Faust's transport registry: `broker_urls()` names brokers with the
`cshealth-kafka://` scheme, which this module registers (the `faust.transports` entry point
does the same for processes that never import it). No Faust code is patched;
tests/stream/test_faust_delivery.py pins the upstream methods this replaces and relies on.
"""
from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any, Iterator, Sequence

from faust.sensors import Monitor
from faust.transport import drivers
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message

SCHEME = "cshealth-kafka"
# Faust's fetch loop lets the event loop run every 100 messages (`yield_every`); so does this one.
YIELD_EVERY = 100


class BatchDeliveryConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer with one `wait_first` per fetched batch instead of per message.

    Unchanged: the order (getmany's round robin over partitions), the read offsets and gaps
    that commits are computed from, commits every `broker_commit_every` acks (outside of the
    cancellable delivery, as upstream), a turn for the rest of the event loop at least every
    100 messages, and the stop of delivery when the flow is suspended or the consumer
    generation changes, mid-batch.
    """

    async def _drain_messages(self, fetcher: Any) -> None:
        # Replaces faust.transport.consumer.Consumer._drain_messages (0.15.3): the loop and its
        # error handling are upstream's; delivery moved to _deliver_batch.
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records = self.getmany(timeout=1.0)
                # getmany can return at once again and again: release the loop each round
                await self.sleep(0)
                if not self.should_stop:
                    # Fetching (getmany's flow and generation checks included) stays outside the
                    # cancellable delivery, as upstream: a suspension never cancels a fetch.
                    batch = [record async for record in records]
                    if batch:
                        await self._deliver_batch(batch)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver_batch(self, batch: Sequence[tuple[TP, Message]]) -> None:
        """Deliver a fetched batch in order; stop where the flow is suspended."""
        remaining = iter(batch)
        generation = self.app.consumer_generation_id
        commit_every = self._commit_every
        while True:
            if commit_every is not None and self._n_acked >= commit_every:
                # Between deliveries: a suspension cancels a delivery, never a commit.
                self._n_acked = 0
                await self.commit()
            delivery = self._deliver_until_commit(remaining, generation)
            waited = await self.wait_first(delivery, self.suspend_flow.wait())
            commit_due = dict(zip(waited.done, waited.results)).get(delivery)
            if not commit_due or self.suspend_flow.is_set():
                return  # the batch is done, the flow suspended (a rebalance), or the consumer stopping

    async def _deliver_until_commit(self, remaining: Iterator[tuple[TP, Message]], generation: int) -> bool:
        """Hand messages to the conductor until the batch ends or the flow stops (False), or a
        commit is due (True: deliver the rest after it)."""
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        since_yield = 0
        for tp, message in remaining:
            # getmany checks these between messages; the batch was fetched whole, so check here
            if not self.flow_active or self.app.consumer_generation_id != generation:
                return False
            since_yield += 1
            if since_yield > YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            last = read_offset[tp]
            if last is not None and offset < last:
                self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                continue
            if last and offset - last > 1 and acks_enabled_for(message.topic):
                await self._add_gap(tp, last + 1, offset)  # offsets Kafka skipped count as acked
            # Read as soon as it is handed over: upstream marks it read once its wait_first
            # returns, whether the message was delivered or a suspension cancelled it.
            read_offset[tp] = offset
            await callback(message)
            if commit_every is not None and self._n_acked >= commit_every:
                return True
        return False


class Transport(aiokafka_driver.Transport):
    """Faust's aiokafka transport with BatchDeliveryConsumer; chosen by the cshealth-kafka:// scheme."""

    Consumer = BatchDeliveryConsumer


class SlimMonitor(Monitor):
    """Faust's Monitor without its per-message and per-event bookkeeping (counters by topic,
    stream and task, timings), which nothing in cshealth reads: the worker exports its own metrics.

    Kept: `stream_inbound_time` (the aiokafka consumer's stall check reads it to tell a stuck
    stream from an idle one; without it every partition reports "slow processing") and
    `track_tp_end_offset` (getmany calls it for every record), plus commit offsets, rebalances
    and web requests, which happen seldom."""

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        pass

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()  # the stall check compares it with monotonic()

    def on_stream_event_out(self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        pass

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        pass


def broker_urls(bootstrap_servers: str, batched: bool = True) -> list[str]:
    """Faust broker URLs for comma-separated bootstrap servers: with cshealth delivery, or stock Faust's."""
    scheme = SCHEME if batched else "kafka"
    return [f"{scheme}://{server.strip()}" for server in bootstrap_servers.split(",") if server.strip()]


def app_options() -> dict:
    """faust.App keywords for cshealth delivery besides the broker URLs: the slim Monitor."""
    return {"Monitor": SlimMonitor}


def use_uvloop() -> None:
    """Make every event loop this process creates from now on a uvloop loop (what Faust's
    `--loop uvloop` does). Call it first in a worker process's entry point: a loop created
    before it (Faust and mode create one lazily, on first use) stays asyncio's."""
    import mode.loop

    mode.loop.use("uvloop")


# Faust's registry is a mapping from URL scheme to transport; the faust.transports entry point
# fills it too, with the same value.
drivers.TRANSPORTS.setdefault(SCHEME, f"{__name__}:Transport")

__all__ = ["SCHEME", "BatchDeliveryConsumer", "SlimMonitor", "Transport", "app_options", "broker_urls", "use_uvloop"]
