"""In-memory stand-ins for the worker's table and producer, for Pipeline tests without Kafka."""
from __future__ import annotations


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key, origin=None):
        return self.data.get(key)

    def put(self, key, value, origin):
        self.data[key] = value

    def keys(self):
        return self.data.keys()
