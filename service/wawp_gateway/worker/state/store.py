"""Where the idempotency records live: an ordered key-value store, on disk in a worker.

A worker keeps every record of the retention in one RocksDB database (``rocksdict``) per
process, under ``GATEWAY_IDEMPOTENCY__STORE_DIR``: memory holds only RocksDB's block cache and
write buffers, capped process-wide by ``GATEWAY_IDEMPOTENCY__STORE_MEMORY_MB``, whatever the
retention and the traffic. Measured before choosing (bench/README.md "Idempotency store"): LMDB
was faster per key but maps the file, so the process's resident memory grew with the data;
an in-memory dict grows by ~350 bytes a key. The write-ahead log is off: ``wawp.state`` is the
log, and a restore reads its tail from the last checkpoint (``statelog.py``).

``MemoryKV`` is the same interface over a dict, for the store's unit tests.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from rocksdict import (
    BlockBasedOptions,
    Cache,
    Options,
    Rdict,
    ReadOptions,
    WriteBatch,
    WriteBufferManager,
    WriteOptions,
)

__all__ = ["KV", "Batch", "MemoryKV", "RocksKV", "StoreLocked", "open_store"]

# The database's first key names the state topic it mirrors: another topic's records are
# dropped at open (a topic renamed or recreated must not answer for this one).
_TOPIC_KEY = b"\x00topic"


class StoreLocked(RuntimeError):
    """The store directory is in use by another process."""


class Batch(Protocol):
    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...


class KV(Protocol):
    """Bytes to bytes, ordered by key; writes go in batches."""

    def get(self, key: bytes) -> bytes | None: ...
    def batch(self) -> Batch: ...
    def write(self, batch: Batch) -> None: ...
    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...
    def delete_prefix(self, prefix: bytes) -> None: ...
    def checkpoint(self) -> None: ...


class _DictBatch:
    def __init__(self) -> None:
        self.ops: list[tuple[bytes, bytes | None]] = []

    def put(self, key: bytes, value: bytes) -> None:
        self.ops.append((key, value))

    def delete(self, key: bytes) -> None:
        self.ops.append((key, None))


class MemoryKV:
    """A dict with ordered scans (sorted on demand: for tests, small stores)."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def batch(self) -> Batch:
        return _DictBatch()

    def write(self, batch: Batch) -> None:
        assert isinstance(batch, _DictBatch)
        for key, value in batch.ops:
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(k for k in self._data if k.startswith(prefix)):
            value = self._data.get(key)
            if value is not None:
                yield key, value

    def delete_prefix(self, prefix: bytes) -> None:
        for key in [k for k in self._data if k.startswith(prefix)]:
            del self._data[key]

    def checkpoint(self) -> None:
        """Nothing to persist."""


class _RocksBatch:
    def __init__(self) -> None:
        self.batch = WriteBatch(raw_mode=True)

    def put(self, key: bytes, value: bytes) -> None:
        self.batch.put(key, value)

    def delete(self, key: bytes) -> None:
        self.batch.delete(key)


class RocksKV:
    """One RocksDB database; ``close`` removes it when it lives in a directory of its own."""

    def __init__(self, path: Path, memory_mb: int, *, topic: str, temporary: bool) -> None:
        self.path = path
        self._temporary = temporary
        budget = max(memory_mb, 8) * 1024 * 1024
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        table = BlockBasedOptions()
        # Half for reads (the hot keys), half for write buffers, both process-wide.
        table.set_block_cache(Cache(budget // 2))
        table.set_cache_index_and_filter_blocks(True)
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        options.set_write_buffer_manager(WriteBufferManager(budget // 2, False))
        options.set_write_buffer_size(min(16 * 1024 * 1024, budget // 4))
        options.set_max_write_buffer_number(2)
        options.set_max_open_files(256)
        # RocksDB's own lock error is a bare Exception: take a lock of ours first, by name.
        self._lock = (path / "gateway.lock").open("a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock.close()
            raise StoreLocked(
                f"the idempotency store {path} is in use by another process: give each worker "
                "a directory of its own (GATEWAY_IDEMPOTENCY__STORE_DIR)"
            ) from exc
        self._db = Rdict(str(path), options)
        writes = WriteOptions()
        writes.disable_wal = True  # type: ignore[assignment]  # a property; wawp.state is the log
        self._db.set_write_options(writes)
        topic_bytes = topic.encode()
        if self._db.get(_TOPIC_KEY) != topic_bytes:
            self.delete_prefix(b"")
            self._db.put(_TOPIC_KEY, topic_bytes)

    def get(self, key: bytes) -> bytes | None:
        value = self._db.get(key)
        return value if isinstance(value, bytes) else None

    def batch(self) -> Batch:
        return _RocksBatch()

    def write(self, batch: Batch) -> None:
        assert isinstance(batch, _RocksBatch)
        self._db.write(batch.batch)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        iterator = self._db.iter(ReadOptions())
        iterator.seek(prefix)
        while iterator.valid():
            key = iterator.key()
            if not key.startswith(prefix):
                return
            yield key, iterator.value()
            iterator.next()

    def delete_prefix(self, prefix: bytes) -> None:
        keys = [key for key, _ in self.scan(prefix) if key != _TOPIC_KEY]
        if keys:
            batch = WriteBatch(raw_mode=True)
            for key in keys:
                batch.delete(key)
            self._db.write(batch)

    def checkpoint(self) -> None:
        """Make everything written so far durable (the memtables go to disk)."""
        self._db.flush()

    def close(self) -> None:
        self._db.close()
        self._lock.close()
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)


def open_store(store_dir: str | None, memory_mb: int, *, topic: str) -> RocksKV:
    """The process's store: in ``store_dir`` (kept across restarts: a checkpoint), or, when
    None, in a fresh temporary directory removed at close."""
    if store_dir is None:
        path = Path(tempfile.mkdtemp(prefix=f"wawp-gateway-state-{os.getpid()}-"))
        return RocksKV(path, memory_mb, topic=topic, temporary=True)
    path = Path(store_dir)
    path.mkdir(parents=True, exist_ok=True)
    return RocksKV(path, memory_mb, topic=topic, temporary=False)
