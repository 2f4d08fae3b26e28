"""The committed offsets the agent waits for: a client that can no longer reach Kafka is replaced,
not asked again for ever."""
from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.devstack.processes import settings_from, stack_env
from streams.kafka.committed import CommittedOffsets

pytestmark = pytest.mark.kafka


def wedge(committed: CommittedOffsets) -> None:
    """Leave its client as aiokafka leaves one that bootstrapped while the broker was starting
    (an empty broker list) and then lost that connection (aio-libs/aiokafka#551): it knows no
    broker and has no connection to ask again, so it never learns one."""
    client = committed._admin._client
    client.cluster._brokers.clear()
    for conn in list(client._conns.values()):
        conn.close()
    client._conns.clear()


def test_a_client_that_lost_every_broker_is_replaced(kafka_bootstrap, unique_prefix):
    topic, group = f"{unique_prefix}-input", f"{unique_prefix}-group"
    tp = TopicPartition(topic, 0)

    async def scenario() -> tuple:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for n in range(3):
                await producer.send_and_wait(topic, b"x%d" % n, partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([tp])
            await consumer.commit({tp: 2})
        finally:
            await consumer.stop()

        committed = CommittedOffsets(settings_from(stack_env(kafka_bootstrap, unique_prefix)), group, timeout_s=3.0)
        try:
            first = await committed.of([(topic, 0)])
            wedge(committed)
            try:
                await committed.of([(topic, 0)])
                failed = False
            except Exception:
                failed = True
            after = await committed.of([(topic, 0)])
        finally:
            await committed.close()
        return first, failed, after

    first, failed, after = asyncio.run(scenario())
    assert first == {(topic, 0): 2}
    assert failed  # the wedged client could not answer
    assert after == {(topic, 0): 2}  # the next request went over a new one
