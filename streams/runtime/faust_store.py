"""The worker's table store: Faust's RocksDB store, written without RocksDB's write-ahead log
and with bounded memory. Faust builds it for `cshealth-rocksdb://`, the default of
CSHEALTH_STORE (streams/settings.py registers the scheme).

Why no write-ahead log: every state write is also a changelog record, and the changelog is
the durable copy. The local store only saves reading the changelog again: Faust recovers a
partition by reading its changelog from the offset the local DB records as persisted
(`__faust\\0offset__`, written in the same DB once Kafka acknowledged a changelog record;
from the log's start when there is none; faust/tables/recovery.py, _build_offsets).
Without the log, a kill -9 loses what was still in the memtables, and RocksDB reopens at its
last flush: a prefix of the writes, in the order they were made. In that prefix every state
written before the recorded offset was written (the state is put, then sent, then
acknowledged, then the offset put), so reading the changelog from that offset brings the
partition back to what Kafka has, as it does for a state dir lost entirely; a crash only
costs a longer recovery for what the memtables held. A clean stop or a revoked partition
flushes its DB, so a restart on the same state dir reads no more of the changelog than with
the log.

Why bounded memory: Faust opens each partition's DB with a 2 GiB block cache of its own and
up to three 64 MiB memtables, so eight partitions may hold gigabytes; the states of 100,000
customers are ~100 MiB (docs/performance.md). The price: most states are read from SST files
through the 64 MiB cache rather than from large memtables (streams/bench/sweep_bench.py shows
the store's share of a sweep).
"""
from __future__ import annotations

from typing import Any

import rocksdict
from faust.stores import rocksdb as faust_rocksdb

from streams.settings import WORKER_STORE_SCHEME, Settings

# Per partition DB, two at most (one being flushed); the worker passes CSHEALTH_STORE_MEMTABLE_MIB.
MEMTABLE_BYTES = int(Settings.model_fields["store_memtable_mib"].default * 2**20)
BLOCK_CACHE_BYTES = 64 * 2**20  # one cache shared by every partition DB of the process


def wal_less_write_options() -> rocksdict.WriteOptions:
    """RocksDB write options of the worker's store: no write-ahead log, no sync."""
    options = rocksdict.WriteOptions()
    options.disable_wal = True
    options.sync = False
    return options


class BoundedOptions(faust_rocksdb.RocksDBOptions):
    """Faust's options with small memtables and one block cache for every partition DB."""

    write_buffer_size = MEMTABLE_BYTES
    max_write_buffer_number = 2
    _shared_cache: rocksdict.Cache | None = None

    def as_options(self) -> rocksdict.Options:
        options = super().as_options()
        if BoundedOptions._shared_cache is None:
            BoundedOptions._shared_cache = rocksdict.Cache(BLOCK_CACHE_BYTES)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table.set_block_cache(BoundedOptions._shared_cache)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options


class WalLessRocksStore(faust_rocksdb.Store):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.use_rocksdict:
            raise RuntimeError(f"{WORKER_STORE_SCHEME}:// needs the rocksdict driver")
        self.rocksdb_options = BoundedOptions(**self.options, use_rocksdict=True)
        self._write_options = wal_less_write_options()

    def _open_for_partition(self, partition: int) -> rocksdict.Rdict:
        db = super()._open_for_partition(partition)
        db.set_write_options(self._write_options)
        return db

    def revoke_partitions(self, table, tps) -> None:
        for tp in tps:  # what the memtables hold: the next owner on this dir need not read it again
            if tp.topic in table.changelog_topic.topics and tp.partition in self._dbs:
                self._dbs[tp.partition].flush(wait=True)
        super().revoke_partitions(table, tps)

    async def stop(self) -> None:
        for db in self._dbs.values():
            db.flush(wait=True)
        await super().stop()
