"""RocksDB memory in a worker stays within one budget, however many table partitions write."""

from __future__ import annotations

import os

from faust.stores import by_url

from alphapanda import stores
from alphapanda.stores import TABLE_OPTIONS


def test_rocksdb_url_opens_the_shared_memory_store():
    stores.register()
    assert by_url("rocksdb://") is stores.Store


def test_every_database_shares_one_cache_and_memtable_budget(tmp_path):
    cache, manager = stores._shared_memory()
    assert manager.get_buffer_size() == stores.memtable_budget()
    options = [stores.SharedMemoryOptions(**TABLE_OPTIONS) for _ in range(24)]
    dbs = [o.open(tmp_path / f"table-{i}") for i, o in enumerate(options)]
    try:
        value = os.urandom(512)
        peak = 0
        # 24 databases x 4 MB: each alone would fit its own memtables; together they are twice
        # the budget, so flushes must keep the total down.
        for round_ in range(8 * 1024):
            for i, db in enumerate(dbs):
                db.put(f"key-{round_}".encode(), value)
            if round_ % 512 == 0:
                peak = max(peak, manager.get_usage())
        peak = max(peak, manager.get_usage())
        assert 0 < peak <= stores.memtable_budget() * 1.25
        assert cache.get_usage() <= stores.memory_budget()
        assert dbs[5][b"key-8000"] == value  # flushed data still reads back
    finally:
        for db in dbs:
            db.close()


def test_the_budget_is_configurable_and_resizes_open_stores():
    cache, manager = stores._shared_memory()
    try:
        stores.register(memory_mb=12)
        assert stores.memory_budget() == 12 * 1024**2
        assert manager.get_buffer_size() == 4 * 1024**2
    finally:
        stores.register()
    assert manager.get_buffer_size() == stores.memtable_budget() == 16 * 1024**2
