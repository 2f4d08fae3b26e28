"""The worker's garbage-collector pacing: frozen every FREEZE_EVERY_S; thawed and collected once
a full collection is due and the worker is idle, or when it is overdue."""
from __future__ import annotations

import gc
import weakref

import pytest

from streams.runtime.gc_pacing import YOUNG_THRESHOLD, CollectorPacing, use_worker_thresholds


@pytest.fixture
def thawed():
    gc.unfreeze()
    yield
    gc.unfreeze()


class Cycle:
    def __init__(self) -> None:
        self.me = self


def frozen_garbage(pacing: CollectorPacing, clock: list[float]) -> weakref.ref:
    """A cycle alive when the pacing froze what lives (at 20 s), dropped after: only a full
    collection frees it."""
    clock[0] = 10
    pacing.tick()
    garbage = Cycle()
    alive = weakref.ref(garbage)
    clock[0] = 20
    pacing.tick()
    del garbage
    return alive


def pacing_at(clock: list[float], pauses: list | None = None) -> CollectorPacing:
    return CollectorPacing(clock=lambda: clock[0], freeze_every_s=10, full_every_s=600, full_at_latest_s=3600,
                           idle_s=2, observe=lambda collection, seconds: pauses.append((collection, seconds))
                           if pauses is not None else None)


def test_live_objects_are_frozen_and_a_full_collection_thaws_them(thawed):
    clock, pauses = [0.0], []
    pacing = pacing_at(clock, pauses)
    pacing.tick()
    assert gc.get_freeze_count() == 0 and pauses == []  # nothing due yet
    alive = frozen_garbage(pacing, clock)
    assert gc.get_freeze_count() > 0
    assert [collection for collection, _ in pauses] == ["young", "young"]
    gc.collect()
    assert alive() is not None  # frozen: no collection looks at it
    clock[0] = 600
    pacing.tick()  # due, and no input was folded since the start: idle
    assert alive() is None  # thawed and collected
    assert gc.get_freeze_count() > 0  # the rest frozen again
    assert pauses[-1][0] == "full" and pauses[-1][1] >= 0


def test_a_due_full_collection_waits_for_an_idle_moment(thawed):
    clock, pauses = [0.0], []
    pacing = pacing_at(clock, pauses)
    alive = frozen_garbage(pacing, clock)
    for second in range(600, 700):  # input folded every second: busy
        clock[0] = second
        pacing.busy()
        pacing.tick()
    assert alive() is not None
    assert {collection for collection, _ in pauses} == {"young"}
    clock[0] = 700  # one second without input: not idle yet
    pacing.tick()
    assert alive() is not None
    clock[0] = 701
    pacing.tick()
    assert alive() is None
    assert pauses[-1][0] == "full"


def test_a_worker_never_idle_collects_fully_when_overdue(thawed):
    clock, pauses = [0.0], []
    pacing = pacing_at(clock, pauses)
    alive = frozen_garbage(pacing, clock)
    for second in range(21, 3600, 5):
        clock[0] = second
        pacing.busy()
        pacing.tick()
    assert alive() is not None
    clock[0] = 3600
    pacing.busy()
    pacing.tick()
    assert alive() is None
    assert [collection for collection, _ in pauses].count("full") == 1


def young_collections_during(allocations: int) -> int:
    """Collections the interpreter starts by itself while a batch builds this many containers
    and holds them until it ends (as a batch's decoded events and states are held): Python counts
    allocations net of deallocations, so objects freed at once never start one."""
    started = []
    callback = lambda phase, info: started.append(info["generation"]) if phase == "start" else None  # noqa: E731
    gc.collect()
    gc.callbacks.append(callback)
    try:
        batch = [{"field": n} for n in range(allocations)]
    finally:
        gc.callbacks.remove(callback)
    del batch
    return len(started)


def test_the_worker_thresholds_start_no_collection_while_a_batch_builds():
    default = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # Python's own
        with_default = young_collections_during(YOUNG_THRESHOLD // 2)
        use_worker_thresholds()
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        with_worker = young_collections_during(YOUNG_THRESHOLD // 2)
    finally:
        gc.set_threshold(*default)
    assert with_default >= 20 and with_worker == 0
