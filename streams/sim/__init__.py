"""The simulator: seeded customer stories with their events and ground truth.

``config`` what to simulate and the stories, ``distributions`` what customers look like and do,
``profiles`` the plan of each customer, ``events`` the builders of one window's events,
``simulator`` the run (planning, then events window by window), ``truth`` the ground truth,
``jsonl`` writing both; ``alert_quality`` scores a run's alerts against the truth.
"""

from streams.sim.config import DEFAULT_STORY_SHARES, STORIES, SimulationConfig, allocate_stories
from streams.sim.jsonl import write_jsonl, write_truth
from streams.sim.simulator import Simulation, simulate
from streams.sim.truth import Truth

__all__ = [
    "DEFAULT_STORY_SHARES",
    "STORIES",
    "Simulation",
    "SimulationConfig",
    "Truth",
    "allocate_stories",
    "simulate",
    "write_jsonl",
    "write_truth",
]
