"""faust_internals.drop_delivered and rewind against Faust's own commit bookkeeping (faust-streaming's
Consumer.ack and _new_offset): a record refused for a hole before it never lets a commit pass the
hole, and after the rewind the commit moves on as the records come again."""
from __future__ import annotations

import asyncio

import faust
from faust.types import TP
from faust.types.tuples import Message

from streams.runtime import faust_internals

TOPIC = "in"
TP0 = TP(TOPIC, 0)


def message(offset: int) -> Message:
    return Message(TOPIC, 0, offset, 0.0, 0, [], b"k", b"v", None, tp=TP0)


async def consumer_at(committed: int):
    app = faust.App("rewind-commits", broker="kafka://127.0.0.1:1")  # never connects
    app.topics._acking_topics.add(TOPIC)  # as when an agent subscribes to it
    consumer = app.consumer
    consumer._committed_offset[TP0] = committed
    sought = []

    async def seek_wait(partitions):  # aiokafka's seek needs a broker; Faust's bookkeeping is under test
        sought.append(dict(partitions))

    consumer.seek_wait = seek_wait
    return app, consumer, sought


def test_without_the_refusal_faust_commits_past_a_record_it_never_delivered():
    async def run():
        app, consumer, _ = await consumer_at(5)
        await consumer._add_gap(TP0, 6, 7)  # Faust's fetch loop: read offset 5, then offset 7 arrives
        consumer.ack(message(7))
        return consumer._new_offset(TP0)

    assert asyncio.run(run()) == 8  # offset 6 counted as read


def test_a_refused_record_and_the_rewind_keep_the_commit_at_the_hole_until_it_is_read():
    async def run():
        app, consumer, sought = await consumer_at(5)
        await consumer._add_gap(TP0, 6, 7)
        refused = message(7)
        consumer._unacked_messages.add(refused)
        faust_internals.drop_delivered(app, refused)
        assert not consumer.ack(refused)  # the stream's acknowledgement after the batch counts nothing
        assert refused not in consumer._unacked_messages  # a rebalance does not wait for it
        await faust_internals.rewind(app, TP0, 6)
        assert sought == [{TP0: 6}]
        assert consumer._new_offset(TP0) is None
        for offset in (6, 7):  # delivered again after the rewind
            assert consumer.ack(message(offset))
        return consumer._new_offset(TP0)

    assert asyncio.run(run()) == 8


def test_a_confirmed_hole_is_counted_as_acked():
    async def run():
        app, consumer, _ = await consumer_at(5)
        faust_internals.count_as_acked(app, TP0, 5, 7)  # 5 and 6: transaction markers
        consumer.ack(message(7))
        return consumer._new_offset(TP0)

    assert asyncio.run(run()) == 8


def test_a_gap_counted_before_its_records_came_lets_commits_pass_records_never_acked():
    """Why ReadOrder never counts a stalled partition's unseen offsets as acked (ReadOrder.take_stalled):
    records 5..99 late, not missing, and counted as a gap, the acks of records 5 and 6 alone let the
    third commit reach 100, and a crash then would lose 7..99."""
    async def run():
        app, consumer, _ = await consumer_at(5)
        faust_internals.count_as_acked(app, TP0, 5, 100)
        consumer.ack(message(5))
        consumer.ack(message(6))
        return [consumer._new_offset(TP0) for _ in range(3)]

    assert asyncio.run(run())[-1] == 100
