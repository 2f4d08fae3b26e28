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
        """Each partition's committed offset (None: nothing committed)."""
        wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
        return await asyncio.wait_for(self._ask(wanted), self.timeout_s)

    async def _ask(self, wanted: list[TopicPartition]) -> dict[tuple[str, int], int | None]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(**self.settings.kafka_client_options(),
                                        request_timeout_ms=int(self.timeout_s * 1000))
            await admin.start()
            self._admin = admin
        found = await self._admin.list_consumer_group_offsets(self.group_id, partitions=wanted)
        answers = {}
        for tp in wanted:
            meta = found.get(tp)
            answers[(tp.topic, tp.partition)] = meta.offset if meta is not None and meta.offset >= 0 else None
        return answers
