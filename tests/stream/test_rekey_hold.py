"""Re-keyed records hold event time on their way to their customer's partition: from the
re-key until they are read back (or acknowledged, when another worker owns their partition),
and unread ones this worker does not know of (written before a restart) block it."""
from streams.runtime.rekey_hold import REKEY_HOLD_HEADER, RekeyHold
from streams.runtime.routing import InputRecord, partition_for
from tests.support.fakes import PARTITIONS, FakePositions, MemoryStore, RecordingOutbox, worker
from tests.unit.builders import at, raw


def make_hold(unread=None, owned=(0, 1), highwater_age=None):
    positions = FakePositions(unread=unread or (lambda t, p, o: 0), highwater_age=highwater_age,
                              assigned=lambda: [("cs.accounts", p) for p in owned])
    return RekeyHold("rekey", positions)


def test_a_record_holds_until_read_back_on_an_owned_partition():
    hold = make_hold()
    first = hold.hold(5_000, 0)
    second = hold.hold(3_000, 1)
    assert hold.oldest() == 3_000
    hold.acknowledged(second)
    assert hold.oldest() == 3_000  # stored, but not folded yet
    hold.read(1, 0, second)
    assert hold.oldest() == 5_000
    hold.read(0, 0, first)  # read back before its acknowledgement arrived
    hold.acknowledged(first)
    assert hold.oldest() is None


def test_a_record_for_another_workers_partition_holds_until_acknowledged():
    hold = make_hold(owned=(0,))
    token = hold.hold(4_000, 1)
    assert hold.oldest() == 4_000
    hold.acknowledged(token)
    assert hold.oldest() is None


def test_unread_records_of_unknown_origin_block_and_own_acknowledged_ones_do_not():
    unread = {0: 0}
    hold = make_hold(unread=lambda t, p, o: unread.get(p, 0))
    token = hold.hold(4_000, 0)
    hold.acknowledged(token)
    unread[0] = 1
    assert not hold.blocks()  # the one unread record is ours, held by its event time
    unread[0] = 2
    assert hold.blocks()  # another one: written before a restart, or by another worker
    hold.read(0, 7, None)
    hold.read(0, 8, token)
    unread[0] = 0
    assert not hold.blocks() and hold.oldest() is None


def test_a_partition_kafka_has_not_told_about_yet_blocks():
    told = {0: 1.0, 1: None}
    hold = make_hold(highwater_age=lambda t, p: told[p])
    assert hold.blocks()  # after a start: partition 1 may hold records re-keyed before it
    told[1] = 0.5
    assert not hold.blocks()


def test_a_partition_given_away_stops_holding():
    hold = make_hold()
    hold.hold(1_000, 1)
    hold.forget({1})
    assert hold.oldest() is None


def test_a_rekeyed_record_keeps_its_day_open_until_it_is_folded():
    outbox = RecordingOutbox()
    clock = [1000.0]
    assigned = [(topic, p) for topic in ("cs.accounts", "cs.interactions") for p in range(PARTITIONS)]
    pipeline = worker(MemoryStore(), [], clock, outbox=outbox,
                      positions=FakePositions(unread=lambda t, p, o: 0, assigned=lambda: assigned))
    wrong = 1 - partition_for(b"c2", PARTITIONS)
    pipeline.process_batch([
        InputRecord("cs.accounts", partition_for(b"c1", PARTITIONS), 0, b"c1",
                    raw("account", 0, "c1", owner="ann", segment="smb"), {}),
        InputRecord("cs.interactions", wrong, 0, b"someone-else",
                    raw("interaction", 3, "c2", direction="inbound", channel="email"), {}),
        InputRecord("cs.interactions", partition_for(b"c1", PARTITIONS), 1, b"c1",
                    raw("interaction", 9, "c1", direction="inbound", channel="email"), {}),
    ])
    clock[0] += 60  # every input quiet and caught up
    assert pipeline.watermark.current() == at(3)  # held by the record on its way

    index = next(i for i, (topic, *_) in enumerate(outbox.sent) if topic == "rekey")
    _, key, value = outbox.sent[index]
    headers = outbox.headers[index]
    assert REKEY_HOLD_HEADER in headers
    pipeline.process_batch([InputRecord("rekey", partition_for(key, PARTITIONS), 0, key, value, headers)])
    clock[0] += 60
    assert pipeline.watermark.current() == at(9)
    assert pipeline.view(b"c2")["metrics"]["late_events"] == 0
