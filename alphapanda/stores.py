"""Faust's RocksDB store with one memory budget for the whole worker.

Faust opens one RocksDB database per table partition, each with its own block cache and its own
memtables: with 7 tables and 8 partitions that is 56 databases whose memory grows independently
until each memtable fills (a worker's RSS climbed for the whole of a 10-minute tick soak). Here
every database shares one block cache, and a write-buffer manager charges all memtables to that
cache, so RocksDB's memory in a worker stays under its budget (``STORE_MEMORY_MB``) however many
tables, partitions and writes there are. Memtables past their share (a third) are flushed to disk
early, which costs nothing that matters for records this small. The share is where flushes start,
not a wall: writes never wait for them (a stalled write would stall the event loop), so under a
burst of writes memtables can pass it for as long as the flushes take.

``STORE_URL=rocksdb://`` selects this store once :func:`register` ran (the app does it first).
"""

from __future__ import annotations

import rocksdict
from faust.stores import STORES
from faust.stores import rocksdb as faust_rocksdb

__all__ = [
    "Store", "SharedMemoryOptions", "DEFAULT_MEMORY_MB", "TABLE_OPTIONS", "register", "memory_budget",
    "memtable_budget", "memory_usage",
]

#: Block cache plus memtables of every table partition in one worker, unless configured. The
#: pipeline's records are small: in a 10-minute soak at 1,000 ticks/s (20 fills/s) RocksDB levelled
#: off at 15 MB under this cap after four minutes; under a 48 MB cap the cache was still filling
#: (31 MB) at the end, memory a worker held for blocks it read once.
DEFAULT_MEMORY_MB = 16
_MB = 1024**2

#: Per database (table partition). Small memtables: our records are small, and each memtable that
#: takes a write holds at least one arena block (an eighth of this size).
TABLE_OPTIONS = dict(
    write_buffer_size=1024**2,
    max_write_buffer_number=2,
    target_file_size_base=8 * 1024**2,
)

_shared: tuple[rocksdict.Cache, rocksdict.WriteBufferManager] | None = None
_budget = DEFAULT_MEMORY_MB * _MB


def memory_budget() -> int:
    """Bytes for the block cache and memtables of every table partition in this worker."""
    return _budget


def memtable_budget() -> int:
    """The memtables' part of :func:`memory_budget` (flushes start when they reach it)."""
    return _budget // 3


def _shared_memory() -> tuple[rocksdict.Cache, rocksdict.WriteBufferManager]:
    global _shared
    if _shared is None:
        cache = rocksdict.Cache(memory_budget())
        manager = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(memtable_budget(), False, cache)
        _shared = (cache, manager)
    return _shared


def memory_usage() -> dict[str, int]:
    """Bytes in use: the shared block cache (memtables included) and the memtables' part of it."""
    if _shared is None:
        return {}
    cache, manager = _shared
    return {"block_cache": cache.get_usage(), "memtables": manager.get_usage()}


class SharedMemoryOptions(faust_rocksdb.RocksDBOptions):
    """Faust's options for one database, with the worker-wide cache and write-buffer manager."""

    def as_options(self) -> rocksdict.Options:
        cache, manager = _shared_memory()
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(self.max_open_files)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_write_buffer_manager(manager)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table.set_block_cache(cache)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options


class Store(faust_rocksdb.Store):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.use_rocksdict:
            self.rocksdb_options = SharedMemoryOptions(**self.options, use_rocksdict=True)


def register(memory_mb: int = DEFAULT_MEMORY_MB) -> None:
    """Make ``rocksdb://`` open :class:`Store` in this process, within ``memory_mb`` of RocksDB memory."""
    global _budget
    STORES.aliases["rocksdb"] = f"{__name__}:Store"
    _budget = memory_mb * _MB
    if _shared is not None:  # already open: resize in place
        cache, manager = _shared
        cache.set_capacity(memory_budget())
        manager.set_buffer_size(memtable_budget())
