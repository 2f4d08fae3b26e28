"""The worker keeps each customer's quiet mark (advance's days ahead whose ticks change nothing)
and closes those days without a tick; what it sends and writes must not depend on it."""
from __future__ import annotations

import streams.runtime.outputs
from handlers import ticks
from handlers.customer import advance
from streams.runtime.routing import InputRecord, partition_for
from tests.support.fakes import PARTITIONS, MemoryStore, RecordingOutbox, worker
from tests.unit.builders import at, raw


def records(day: int, offsets: dict) -> list[InputRecord]:
    """A few customers, each with its own rhythm: some every day, some every week, one once."""
    out = []
    for n, every in enumerate((1, 3, 7, 11, 1000)):
        if day % every:
            continue
        customer = f"c{n}"
        key = customer.encode()
        partition = partition_for(key, PARTITIONS)
        topic, kind, fields = (("cs.accounts", "account", {"owner": "ann", "segment": "smb"}) if day == 0 else
                               ("cs.surveys", "survey", {"kind": "nps", "score": (day * 7 + n) % 11})
                               if day % 2 else ("cs.interactions", "interaction",
                                                {"direction": "inbound", "channel": "email"}))
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        out.append(InputRecord(topic, partition, offset, key, raw(kind, day, customer, f"{customer}-{day}", **fields), {}))
    return out


def run(monkeypatch, marks: bool, cache_size: int = 10_000):
    if not marks:  # every due tick evaluated
        monkeypatch.setattr(streams.runtime.outputs, "advance",
                            lambda state, wm, config, quiet=None, look_ahead=False: advance(state, wm, config))
    store, outbox, clock = MemoryStore(), RecordingOutbox(), [1000.0]
    pipeline = worker(store, [], clock, outbox=outbox, state_cache_size=cache_size)
    offsets: dict = {}
    for day in range(0, 120):
        if day < 60:
            pipeline.process_batch(records(day, offsets))
        else:  # the inputs go quiet: their watermark moves on with one record each
            for (topic, partition), offset in offsets.items():
                pipeline.watermark.observe(topic, partition, at(day, 7), offset)
        clock[0] += 30
        for partition in range(PARTITIONS):
            pipeline.sweep(partition, None)
    monkeypatch.undo()
    return outbox.sent, store.data


def test_quiet_marks_change_nothing_sent_or_written(monkeypatch):
    tick_calls = []
    real_tick = ticks.tick
    monkeypatch.setattr(ticks, "tick", lambda *a, **k: tick_calls.append(1) or real_tick(*a, **k))
    marked = run(monkeypatch, marks=True)
    with_marks = len(tick_calls)
    monkeypatch.setattr(ticks, "tick", lambda *a, **k: tick_calls.append(1) or real_tick(*a, **k))
    plain = run(monkeypatch, marks=False)
    assert marked == plain
    assert with_marks < (len(tick_calls) - with_marks) * 0.8  # and it skipped ticks


def test_without_the_decoded_states_too(monkeypatch):
    assert run(monkeypatch, marks=True, cache_size=0) == run(monkeypatch, marks=False, cache_size=0)
