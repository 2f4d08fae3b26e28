"""Shared fixtures: one real local Kafka broker per test session.

Set CSHEALTH_BOOTSTRAP_SERVERS to use an existing broker instead.
"""
from __future__ import annotations

import os
import uuid

import pytest

from streams.kafka import local_broker


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    existing = os.environ.get("CSHEALTH_BOOTSTRAP_SERVERS")
    if existing:
        yield existing
        return
    data_dir = tmp_path_factory.mktemp("kafka")
    info = local_broker.start(data_dir)
    try:
        yield info.bootstrap
    finally:
        local_broker.stop(data_dir)


@pytest.fixture
def unique_prefix() -> str:
    """Topic-name prefix so tests sharing the broker never see each other's records."""
    return f"t{uuid.uuid4().hex[:8]}"
