"""In-memory stand-ins for the worker's table and producer, for Pipeline tests without Kafka."""
from __future__ import annotations

from handlers.config import load_config
from streams.telemetry.metrics import Metrics
from streams.runtime.pipeline import Pipeline
from streams.runtime.topics import PipelineTopics

PARTITIONS = 2
TOPICS = {"cs.accounts": "account", "cs.interactions": "interaction"}


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key, origin=None):
        return self.data.get(key)

    def put(self, key, value, origin):
        self.data[key] = value

    def keys(self):
        return self.data.keys()


class DiscardingOutbox:
    def send(self, topic, key, value, headers=None):
        pass


class RecordingOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    def send(self, topic, key, value, headers=None):
        self.sent.append((topic, key, value))

    def values(self, topic: str) -> list[bytes]:
        return [value for sent_to, _, value in self.sent if sent_to == topic]


def worker(store: MemoryStore, paged: list, clock: list, outbox=None, **options) -> Pipeline:
    """A Pipeline over `store` on a fake clock, paging into `paged`, its outputs discarded (or
    kept by `outbox`)."""
    pipeline = Pipeline(config=load_config(), store=store, outbox=outbox or DiscardingOutbox(), metrics=Metrics(),
                        input_kinds=TOPICS, partitions=PARTITIONS,
                        topics=PipelineTopics("rekey", "referral", "cs.health", "cs.health-changes", "cs.alerts",
                                              "cs.dlq"),
                        on_alert=paged.append, clock=lambda: clock[0], watermark_idle_s=0.0, **options)
    pipeline.watermark.clock = lambda: clock[0]
    pipeline.watermark.hold()  # its start-up hold, on the fake clock
    return pipeline
