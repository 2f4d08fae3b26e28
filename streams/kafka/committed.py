"""The consumer group's committed offsets, asked of Kafka over a client of cshealth's own.

Not through Faust's consumer thread: the agent awaiting that thread while a rebalance runs in
it waits for Faust's revocation, which waits for the agent's batch to be acknowledged.
"""
from __future__ import annotations

import asyncio
from typing import Iterable

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.settings import Settings


class CommittedOffsets:
    def __init__(self, settings: Settings, group_id: str, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.group_id = group_id
        self.timeout_s = timeout_s
        self._admin: AIOKafkaAdminClient | None = None

    async def of(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int | None]:
        """Each partition's committed offset (None: nothing committed). A failed request also
        closes the client: the next one bootstraps a new one. An aiokafka client that bootstrapped
        while the broker was starting knows no brokers, and once that connection drops it never
        bootstraps again (aio-libs/aiokafka#551); asking it again would fail for ever, and the
        agent waits for this answer."""
        wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
        try:
            return await asyncio.wait_for(self._ask(wanted), self.timeout_s)
        except Exception:
            await self.close()
            raise

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                await asyncio.wait_for(admin.close(), self.timeout_s)
            except Exception:  # closing a client of a broker that is gone: nothing left to release
                pass

    async def _ask(self, wanted: list[TopicPartition]) -> dict[tuple[str, int], int | None]:
        if self._admin is None:  # kept from here on, so a start that fails is closed too
            self._admin = AIOKafkaAdminClient(**self.settings.kafka_client_options(),
                                              request_timeout_ms=int(self.timeout_s * 1000))
            await self._admin.start()
        found = await self._admin.list_consumer_group_offsets(self.group_id, partitions=wanted)
        answers = {}
        for tp in wanted:
            meta = found.get(tp)
            answers[(tp.topic, tp.partition)] = meta.offset if meta is not None and meta.offset >= 0 else None
        return answers
