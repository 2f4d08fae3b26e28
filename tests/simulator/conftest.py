"""Shared fixtures: one mid-sized simulation, generated once per session."""

from __future__ import annotations

from collections import defaultdict

import pytest

from streams.sim import SimulationConfig, simulate
from tests.simulator.simulator_support import START


@pytest.fixture(scope="session")
def sim_config() -> SimulationConfig:
    return SimulationConfig(customers=500, days=120, seed=20260301, start=START)


@pytest.fixture(scope="session")
def simulation(sim_config):
    return simulate(sim_config)


@pytest.fixture(scope="session")
def events(simulation) -> list[dict]:
    return list(simulation.events())


@pytest.fixture(scope="session")
def truth(simulation) -> dict[str, dict]:
    return {row["customer_id"]: row for row in simulation.truth()}


@pytest.fixture(scope="session")
def by_customer(events) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for ev in events:
        grouped[ev["customer_id"]].append(ev)
    return dict(grouped)


@pytest.fixture(scope="session")
def by_story(truth) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in truth.values():
        grouped[row["story"]].append(row)
    return dict(grouped)
