"""Catching up a backlog, a customer's evaluation waits (up to defer_max_s) for its further
events; the outputs say the same as when every batch is evaluated, and the state is written
every batch all the same."""
from __future__ import annotations

import orjson

import streams.runtime.pipeline
from handlers.state import CustomerState
from streams.runtime.routing import InputRecord, partition_for
from tests.support.fakes import PARTITIONS, FakePositions, MemoryStore, RecordingOutbox, worker
from tests.unit.builders import raw

CUSTOMERS = [f"c{n}" for n in range(6)]


def batches() -> list[list[InputRecord]]:
    """Each customer in every batch, its event days moving on (ticks close as the watermark moves)."""
    out, offsets = [], {}
    for first_day in range(0, 40, 4):
        batch = []
        for customer in CUSTOMERS:
            key = customer.encode()
            partition = partition_for(key, PARTITIONS)
            for day in range(first_day, first_day + 4):
                topic, kind, fields = (("cs.accounts", "account", {"owner": "ann", "segment": "smb"}) if day == 0 else
                                       ("cs.interactions", "interaction", {"direction": "inbound", "channel": "email"}))
                offset = offsets.get((topic, partition), 0)
                offsets[(topic, partition)] = offset + 1
                batch.append(InputRecord(topic, partition, offset, key,
                                         raw(kind, day, customer, f"{customer}-{day}", **fields), {}))
        out.append(batch)
    return out


def run(waiting: list[int], seconds_per_batch: float = 1.0, **options):
    store, outbox, clock = MemoryStore(), RecordingOutbox(), [1000.0]
    pipeline = worker(store, [], clock, outbox=outbox, positions=FakePositions(lambda topic, partition, offset: waiting[0]), **options)
    seen = []
    for batch in batches():
        pipeline.process_batch(batch)
        clock[0] += seconds_per_batch
        seen.append((pipeline.deferred_count(), len(outbox.values("cs.health"))))
    return pipeline, store, outbox, clock, seen


def latest_health(outbox: RecordingOutbox) -> dict[str, dict]:
    latest = {}
    for value in outbox.values("cs.health"):
        record = orjson.loads(value)
        record.pop("as_of")
        latest[record["customer_id"]] = record
    return latest


def test_live_batches_are_evaluated_at_once():
    _, _, _, _, seen = run(waiting=[0])
    assert all(deferred == 0 for deferred, _ in seen)


def test_a_backlog_defers_evaluation_and_catching_up_ends_it():
    pipeline, store, outbox, clock, seen = run(waiting=[50_000], seconds_per_batch=1.0)
    # Deferred while behind: no cs.health for the first ten seconds, states written every batch.
    assert seen[0] == (len(CUSTOMERS), 0)
    assert all(deferred == len(CUSTOMERS) for deferred, _ in seen[:10])
    assert CustomerState.from_bytes(store.data[b"c0"]).events == 40
    # Overdue customers are evaluated even while behind.
    clock[0] += 11
    pipeline.process_batch([])
    assert pipeline.deferred_count() == 0 and len(outbox.values("cs.health")) == len(CUSTOMERS)


def test_deferred_outputs_say_what_immediate_ones_say():
    waiting = [50_000]
    pipeline, store, deferred_out, clock, _ = run(waiting)
    waiting[0] = 0  # caught up: the next batch (here an empty one) evaluates what waited
    pipeline.process_batch([])
    assert pipeline.deferred_count() == 0
    _, live_store, live_out, _, _ = run(waiting=[0])
    assert latest_health(deferred_out) == latest_health(live_out)
    # every health change and alert, each once (fewer cs.health snapshots on the way)
    for topic in ("cs.health-changes", "cs.alerts"):
        assert sorted(deferred_out.values(topic)) == sorted(live_out.values(topic)), topic
    assert len(deferred_out.values("cs.health")) < len(live_out.values("cs.health"))
    assert store.data.keys() == live_store.data.keys()


def test_no_more_wait_than_the_state_cache_holds_the_others_are_evaluated_at_once():
    waiting = [50_000]
    pipeline, _, outbox, clock, seen = run(waiting, state_cache_size=4)
    assert seen[0] == (4, len(CUSTOMERS) - 4)  # two customers beyond the limit: cs.health at once
    assert all(deferred == 4 for deferred, _ in seen[:10])
    waiting[0] = 0
    pipeline.process_batch([])
    live, _, live_out, live_clock, _ = run(waiting=[0])
    # Those evaluated during the backlog saw its held-back watermark: the next sweep moves them on.
    for worker_, clock_ in ((pipeline, clock), (live, live_clock)):
        clock_[0] += 30
        for partition in range(PARTITIONS):
            worker_.sweep(partition, None)
    assert latest_health(outbox) == latest_health(live_out)


def test_every_overdue_customer_is_evaluated_during_a_backlog_whatever_the_budget():
    # A budget of -1 s stops a budgeted call after one customer.
    pipeline, _, outbox, clock, _ = run(waiting=[50_000], deferred_budget_s=-1.0)
    assert pipeline.deferred_count() == len(CUSTOMERS)
    clock[0] += 11
    assert pipeline.evaluate_deferred(overdue_only=True) == len(CUSTOMERS)  # as while still behind
    pipeline, *_ = run(waiting=[50_000], deferred_budget_s=-1.0)
    assert pipeline.evaluate_deferred() == 1  # caught up: the budget paces the evaluation


def test_a_failed_fold_of_a_waiting_customer_evaluates_the_stored_state(monkeypatch):
    pipeline, store, outbox, clock, _ = run(waiting=[50_000])
    real_apply = streams.runtime.pipeline.apply

    def apply_then_fail(state, event, config):
        real_apply(state, event, config)  # the held state is changed ...
        raise RuntimeError("bug")  # ... and then the fold fails

    monkeypatch.setattr(streams.runtime.pipeline, "apply", apply_then_fail)
    key = b"c0"
    pipeline.process_batch([InputRecord("cs.interactions", partition_for(key, PARTITIONS), 10_000, key,
                                        raw("interaction", 41, "c0", "c0-late", direction="inbound",
                                            channel="email"), {})])
    monkeypatch.setattr(streams.runtime.pipeline, "apply", real_apply)
    clock[0] += 11
    pipeline.process_batch([])
    sent = [orjson.loads(v) for v in outbox.values("cs.health")]
    last_c0 = [h for h in sent if h["customer_id"] == "c0"][-1]
    assert last_c0["metrics"]["events"] == CustomerState.from_bytes(store.data[key]).events == 40
