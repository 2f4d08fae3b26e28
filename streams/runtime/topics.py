"""The Kafka topics cshealth reads and writes, created with the right partitions and configs."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, for_code

from streams.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    config: dict[str, str] = field(default_factory=dict)


def internal_topics(settings: Settings) -> dict[str, str]:
    """Co-partitioned topics the worker feeds itself: re-keyed input, referral credits, sweep ticks."""
    return {
        "rekey": f"{settings.app_id}-rekeyed-events",
        "referral": f"{settings.app_id}-referral-credits",
        "ticks": f"{settings.app_id}-sweep-ticks",
    }


@dataclass(frozen=True)
class PipelineTopics:
    """Where the pipeline writes: its own co-partitioned topics and the outputs."""
    rekey: str
    referral: str
    health: str
    changes: str
    alerts: str
    dlq: str

    @classmethod
    def of(cls, settings: Settings) -> "PipelineTopics":
        internal = internal_topics(settings)
        return cls(rekey=internal["rekey"], referral=internal["referral"], health=settings.topic_health,
                   changes=settings.topic_health_changes, alerts=settings.topic_alerts, dlq=settings.topic_dlq)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    week_ms = str(7 * 24 * 3600 * 1000)
    outputs = [
        # Latest health per customer: compaction keeps one record per key.
        TopicSpec(settings.topic_health, {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}),
        TopicSpec(settings.topic_health_changes, {"retention.ms": str(30 * 24 * 3600 * 1000)}),
        TopicSpec(settings.topic_alerts, {"retention.ms": str(30 * 24 * 3600 * 1000)}),
        TopicSpec(settings.topic_dlq, {"retention.ms": str(30 * 24 * 3600 * 1000), "max.message.bytes": "4194304"}),
    ]
    inputs = [TopicSpec(name, {"retention.ms": week_ms}) for name in settings.input_topics]
    internal = [TopicSpec(name, {"retention.ms": week_ms}) for name in internal_topics(settings).values()]
    return inputs + outputs + internal


async def ensure_topics(settings: Settings, timeout_s: float = 15.0) -> list[str]:
    """Create missing topics; returns the names created. Fails fast when the broker is unreachable."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (asyncio.TimeoutError, KafkaConnectionError, OSError) as exc:
        await admin.close()
        raise ConnectionError(f"Kafka at {settings.bootstrap_servers} is unreachable ({type(exc).__name__})") from None
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(spec.name, settings.partitions, settings.replication_factor, topic_configs=spec.config)
            for spec in topic_specs(settings)
            if spec.name not in existing
        ]
        if not new:
            return []
        response = await admin.create_topics(new)
        # The answer is per topic, and aiokafka raises for none of them. A topic created a moment
        # ago can be missing from the broker's metadata still (KRaft propagates it after the
        # controller answered), and another worker can win the race: both answer "already exists".
        created, failed = [], []
        for name, code, *message in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                failed.append(f"{name}: {for_code(code).__name__} {message[0] if message and message[0] else ''}".strip())
        if failed:
            raise RuntimeError(f"Kafka did not create {len(failed)} topics: {'; '.join(failed)}")
        return created
    finally:
        await admin.close()
