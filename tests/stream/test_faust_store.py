"""The worker's table store (streams/runtime/faust_store.py): Faust's RocksDB store without the
write-ahead log. A process that dies keeps what RocksDB flushed, in write order, and loses the
rest (the changelog has it); a clean stop or a revoked partition keeps everything."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import faust.stores
import pytest
from rocksdict import Options, Rdict

from streams.runtime import faust_store
from streams.settings import Settings

OFFSET_KEY = b"__faust\0offset__"

# Writes through the store Faust builds for the settings' default, then ends as `ENDING` says.
WRITER = textwrap.dedent("""
    import asyncio, os, sys
    import faust
    from faust.types import TP
    from streams.settings import Settings

    app = faust.App("store-test", store=Settings().store, datadir=sys.argv[1])
    table = app.Table("states", default=None, partitions=2, key_type=bytes, value_type=bytes)
    store = table.data
    changelog = TP(table.changelog_topic.get_topic_name(), 0)
    db = store._db_for_partition(0)
    db.put(b"first", b"1")
    store.set_persisted_offset(changelog, 41)
    db.flush(wait=True)  # what RocksDB persisted before the end
    db.put(b"second", b"2")
    store.set_persisted_offset(changelog, 42)
    ending = sys.argv[2]
    if ending == "stop":
        asyncio.run(store.stop())
    elif ending == "revoke":
        store.revoke_partitions(table, {changelog})
    os._exit(0)  # as kill -9 would: no destructor, no close
""")


def write_and_end(tmp_path: Path, ending: str) -> Rdict:
    subprocess.run([sys.executable, "-c", WRITER, str(tmp_path), ending], check=True, timeout=60,
                   cwd=Path(__file__).resolve().parents[2])
    return Rdict(str(tmp_path / "v1" / "tables" / "states-0.db"), Options(raw_mode=True))


def test_the_default_store_is_faust_rocksdb_store_without_the_log():
    store_class = faust.stores.by_url(Settings().store)
    assert store_class is faust_store.WalLessRocksStore
    assert issubclass(store_class, faust.stores.by_url("rocksdb://"))


def test_a_killed_process_keeps_the_flushed_prefix_of_its_writes_and_its_offset(tmp_path):
    db = write_and_end(tmp_path, "kill")
    try:
        # The persisted offset comes back with the states written before it: recovery reads
        # the changelog from 41 on and gets "second" back from Kafka.
        assert (db.get(b"first"), db.get(OFFSET_KEY)) == (b"1", b"41")
        assert db.get(b"second") is None
    finally:
        db.close()


@pytest.mark.parametrize("ending", ["stop", "revoke"])
def test_a_clean_stop_or_a_revoked_partition_keeps_every_write(tmp_path, ending):
    db = write_and_end(tmp_path, ending)
    try:
        assert (db.get(b"first"), db.get(b"second"), db.get(OFFSET_KEY)) == (b"1", b"2", b"42")
    finally:
        db.close()
