"""The worker's garbage-collector pacing: frozen every FREEZE_EVERY_S, thawed and collected every FULL_EVERY_S."""
from __future__ import annotations

import gc
import weakref

import pytest

from streams.runtime.gc_pacing import CollectorPacing


@pytest.fixture
def thawed():
    gc.unfreeze()
    yield
    gc.unfreeze()


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_live_objects_are_frozen_and_a_full_collection_thaws_them(thawed):
    clock = [0.0]
    pacing = CollectorPacing(clock=lambda: clock[0], freeze_every_s=10, full_every_s=600)
    pacing.tick()
    assert gc.get_freeze_count() == 0  # nothing due yet
    clock[0] = 10
    pacing.tick()
    assert gc.get_freeze_count() > 0

    garbage = Cycle()  # alive when frozen, a cycle once dropped: only a full collection frees it
    alive = weakref.ref(garbage)
    clock[0] = 20
    pacing.tick()
    del garbage
    gc.collect()
    assert alive() is not None  # frozen: no collection looks at it
    clock[0] = 600
    pacing.tick()
    assert alive() is None  # thawed and collected
    assert gc.get_freeze_count() > 0  # the rest frozen again
