"""The idempotency store: per (instance, key), what is known of a command's Wawp calls.

Pure: it is fed the records of one ``wawp.state`` partition (restore, and the worker's own
writes) and answers what to do with a command. The changelog itself is ``statelog.py``; the rules
are docs/contract.md's "Idempotency and replay".
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from wawp_gateway.core.contracts import StateStatus
from wawp_gateway.core.jsoncodec import canonical
from wawp_gateway.core.values import immutable
from wawp_gateway.worker.state.entries import (
    HEAD,
    STATUS_INDEX,
    STATUSES,
    Entry,
    StateEvent,
    join,
    pack,
    split,
    unpack,
)
from wawp_gateway.worker.state.owners import Owners
from wawp_gateway.worker.state.store import KV, MemoryKV

__all__ = ["BLOCKING", "TERMINAL", "Decision", "PartitionState", "Verdict", "fingerprint"]

TERMINAL = frozenset(
    {
        StateStatus.SUCCEEDED,
        StateStatus.FAILED,
        StateStatus.EXPIRED,
        StateStatus.OUTCOME_UNKNOWN,
    }
)
# A key with one of these outcomes answers the same command again with `duplicate`.
BLOCKING = frozenset({StateStatus.SUCCEEDED, StateStatus.OUTCOME_UNKNOWN})

_TERMINAL_INDEXES = frozenset(STATUS_INDEX[status] for status in TERMINAL)
_RECENT_KEYS = 4_096  # ~1 MB per partition owned
# Finished commands remembered per key besides the latest (a key reused after a failure): a
# crash re-delivers them too, and each must be answered from its own outcome.
_EARLIER_PER_KEY = 8


def fingerprint(instance_id: str, action: str, params: Mapping[str, Any]) -> str:
    """What makes two commands "the same": instance, action and the normalized params."""
    text = canonical([instance_id, action, params])
    return hashlib.blake2b(text, digest_size=16).hexdigest()


class Verdict(enum.Enum):
    EXECUTE = "execute"  # call Wawp
    DUPLICATE = "duplicate"  # answer from the entry, no call
    REDELIVERED = "redelivered"  # this very record again, finished: no call, no answer
    CONFLICT = "conflict"  # another payload holds the key: rejected
    WAIT = "wait"  # the same command runs in another lane of this worker
    AMBIGUOUS = "ambiguous"  # a call of an earlier owner may have reached Wawp


@immutable
class Decision:
    verdict: Verdict
    entry: Entry | None = None


_EXECUTE = Decision(Verdict.EXECUTE)
_CONFLICT = Decision(Verdict.CONFLICT)
_WAIT = Decision(Verdict.WAIT)


def _slot(instance_id: str, key: str) -> bytes:
    # Keys are scoped per instance, and the separator cannot occur in an instance id.
    return f"{instance_id}\x1f{key}".encode()


_PARTITION = struct.Struct(">H")
_TIME = struct.Struct(">d")  # big-endian: positive times sort as their bytes
_META = struct.Struct("<qqqBqq")  # position, log records, records, last status, keys, evicted
_NO_STATUS = 255


class PartitionState:
    """The idempotency records of one ``wawp.state`` partition, and the commands of that
    partition running in this worker now (``begin``/``end``).

    Records live in ``kv`` (``store.py``) under the partition's prefix: each key's latest
    record (packed), the earlier finished commands of a reused key, and an index by record time
    for expiry. Holds at most ``max_keys`` keys: past that the oldest are dropped first, as if
    their retention had ended (counted in ``evicted``)."""

    def __init__(
        self,
        retention_s: float,
        max_keys: int = 1_000_000,
        *,
        kv: KV | None = None,
        partition: int = 0,
    ) -> None:
        self._retention_s = retention_s
        self._max_keys = max_keys
        self._kv: KV = kv if kv is not None else MemoryKV()
        prefix = _PARTITION.pack(partition)
        self._entry_prefix = b"e" + prefix
        self._earlier_prefix = b"r" + prefix
        self._time_prefix = b"t" + prefix
        self._meta_key = b"m" + prefix
        self._owners_key, self.owners = b"o" + prefix, Owners()
        self._running: dict[bytes, str] = {}
        # Each running key's stored entry, as last written or looked up (only its runner
        # writes it meanwhile): its records need no read of the store, a third of its cost.
        self._latest: dict[bytes, bytes | None] = {}
        # The entries written last, whoever runs them: a command's records follow each other
        # closely in the changelog, so a restore mostly finds the previous one here.
        self._recent: dict[bytes, bytes | None] = {}
        self._looked_up: tuple[bytes, bytes | None] = (b"", None)
        # A running key's in_progress, kept here until its next record supersedes it: no later
        # record needs it in the store, so most commands write it there never (a fifth of a
        # worker's store cost). A checkpoint, or a command ending on it, stores it first.
        self._in_progress: dict[bytes, StateEvent] = {}
        self.last_status: StateStatus | None = None
        self.records = 0
        # Every record read, markers included: zero means the partition never had an owner.
        self.log_records = 0
        self.evicted, self._keys = 0, 0

    def __len__(self) -> int:
        return self._keys

    def entries(self) -> Iterator[tuple[str, str, Entry]]:
        skip = len(self._entry_prefix)
        for raw, blob in self._kv.scan(self._entry_prefix):
            instance_id, key = raw[skip:].decode().split("\x1f", 1)
            yield instance_id, key, unpack(key, blob)

    # -- checkpoints ---------------------------------------------------------------------------

    def resume(self) -> int | None:
        """Load the partition's last checkpoint: the changelog offset to read on from, or None
        (no checkpoint: whatever the store holds of it is dropped, read from the beginning)."""
        meta = self._kv.get(self._meta_key)
        if meta is None:
            self.forget()
            return None
        # ``evicted`` counts this owner's evictions only (the metric's), not the store's.
        position, self.log_records, self.records, status, self._keys, _ = _META.unpack(meta)
        self.last_status = None if status == _NO_STATUS else STATUSES[status]
        self.owners = Owners.from_bytes(self._kv.get(self._owners_key))
        return int(position)

    def forget(self) -> None:
        """Drop everything the store holds of this partition."""
        for prefix in (self._entry_prefix, self._earlier_prefix, self._time_prefix):
            self._kv.delete_prefix(prefix)
        batch = self._kv.batch()
        batch.delete(self._meta_key)
        batch.delete(self._owners_key)
        self._kv.write(batch)
        self.last_status, self.records, self.log_records, self._keys = None, 0, 0, 0
        self.owners = Owners()
        self._latest = dict.fromkeys(self._latest)
        self._recent.clear()
        self._in_progress.clear()

    def checkpoint(self, position: int) -> None:
        """Every changelog record below ``position`` is applied: make it durable, so a restore
        here reads on from ``position`` only."""
        for slot in list(self._in_progress):
            self._store_in_progress(slot)
        status = _NO_STATUS if self.last_status is None else STATUS_INDEX[self.last_status]
        batch = self._kv.batch()
        batch.put(
            self._meta_key,
            _META.pack(position, self.log_records, self.records, status, self._keys, self.evicted),
        )
        batch.put(self._owners_key, self.owners.to_bytes())
        self._kv.write(batch)
        self._kv.checkpoint()

    # -- the changelog -------------------------------------------------------------------------

    def released(self, owner: str) -> None:
        self.last_status = StateStatus.RELEASED
        self.records += 1
        self.owners.released(owner)

    def apply(self, event: StateEvent, now: float) -> None:
        """One record, in log order; expired ones are left out."""
        self.last_status = event.status
        self.records += 1
        retention_s = self._retention_s
        if event.recorded_at + retention_s < now:
            return
        slot = _slot(event.instance_id, event.key)
        if slot in self._running:
            if event.status is StateStatus.IN_PROGRESS:
                self._in_progress[slot] = event
                return
            self._in_progress.pop(slot, None)  # superseded: the store never needs it
        self._store(slot, event, now)

    def _store_in_progress(self, slot: bytes) -> None:
        event = self._in_progress.pop(slot, None)
        if event is not None:
            self._store(slot, event, event.recorded_at)

    def _store(self, slot: bytes, event: StateEvent, now: float) -> None:
        retention_s = self._retention_s
        kv = self._kv
        entry_key = self._entry_prefix + slot
        # Every record carries its command's attempt count and first attempt time, so the
        # latest one is all a key needs.
        latest, recent = self._latest, self._recent
        if slot in latest:
            previous = latest[slot]
        elif slot in recent:
            previous = recent[slot]
        else:
            previous = kv.get(entry_key)
        packed = pack(event)
        batch = kv.batch()
        batch.put(entry_key, packed)
        batch.put(self._time_prefix + _TIME.pack(event.recorded_at) + slot, b"")
        if previous is None:
            self._keys += 1
        else:
            previous_at = HEAD.unpack_from(previous)[4]
            if previous_at != event.recorded_at:
                batch.delete(self._time_prefix + _TIME.pack(previous_at) + slot)
            if previous[0] in _TERMINAL_INDEXES:
                earlier = unpack(event.key, previous)
                if earlier.recorded_at + retention_s >= now and not earlier.same_command(
                    event.command_id, event.replay_count
                ):
                    kept = split(kv.get(self._earlier_prefix + slot))
                    batch.put(
                        self._earlier_prefix + slot,
                        join((previous, *kept)[:_EARLIER_PER_KEY]),
                    )
        kv.write(batch)
        if slot in self._running:
            latest[slot] = packed
        if len(recent) >= _RECENT_KEYS:
            recent.clear()
        recent[slot] = packed
        if self._keys > self._max_keys:
            self.evicted += self._drop_oldest(lambda at: True, limit=self._keys - self._max_keys)

    def expire(self, now: float) -> int:
        """Drop entries past the retention (the oldest are first)."""
        retention_s = self._retention_s
        return self._drop_oldest(lambda at: at + retention_s < now)

    def _drop_oldest(self, drop: Callable[[float], bool], limit: int | None = None) -> int:
        kv = self._kv
        skip = len(self._time_prefix)
        dropped = 0
        batch = kv.batch()
        for raw, _ in kv.scan(self._time_prefix):
            if limit is not None and dropped >= limit:
                break
            (at,) = _TIME.unpack_from(raw, skip)
            if not drop(at):
                break
            slot = raw[skip + _TIME.size :]
            batch.delete(raw)
            batch.delete(self._entry_prefix + slot)
            batch.delete(self._earlier_prefix + slot)
            if slot in self._latest:
                self._latest[slot] = None
            self._recent.pop(slot, None)
            dropped += 1
        if dropped:
            kv.write(batch)
            self._keys -= dropped
        return dropped

    # -- deciding --------------------------------------------------------------------------------

    def get(self, instance_id: str, key: str, now: float) -> Entry | None:
        slot = _slot(instance_id, key)
        blob = self._kv.get(self._entry_prefix + slot)
        self._looked_up = (slot, blob)
        if blob is None:
            return None
        entry = unpack(key, blob)
        return None if entry.recorded_at + self._retention_s < now else entry

    def _finished(
        self,
        instance_id: str,
        key: str,
        entry: Entry,
        command_id: str,
        replay_count: int,
        now: float,
    ) -> Entry | None:
        """The key's terminal entry of that very command (a re-delivery), within retention."""
        if entry.status in TERMINAL and entry.same_command(command_id, replay_count):
            return entry
        for blob in split(self._kv.get(self._earlier_prefix + _slot(instance_id, key))):
            earlier = unpack(key, blob)
            if (
                earlier.same_command(command_id, replay_count)
                and earlier.recorded_at + self._retention_s >= now
            ):
                return earlier
        return None

    def decide(
        self,
        *,
        instance_id: str,
        key: str,
        command_id: str,
        replay_count: int,
        fingerprint: str,
        now: float,
        override_unknown: bool = False,
        safe_to_repeat: bool = False,
    ) -> Decision:
        entry = self.get(instance_id, key, now)
        finished = (
            self._finished(instance_id, key, entry, command_id, replay_count, now)
            if entry is not None
            else None
        )
        if finished is not None:
            # A re-delivery of a finished command: its result was acknowledged before its
            # terminal record was written, so it is neither executed nor answered again.
            return Decision(Verdict.REDELIVERED, finished)
        running = self._running.get(_slot(instance_id, key))
        if running is not None:
            return _WAIT if running == fingerprint else _CONFLICT
        if entry is None:
            return _EXECUTE
        status = entry.status
        same = entry.fingerprint == fingerprint
        if status is StateStatus.IN_PROGRESS:
            if not same:
                return _CONFLICT
            return _EXECUTE if safe_to_repeat else Decision(Verdict.AMBIGUOUS, entry)
        if status in BLOCKING:
            if not same:
                return _CONFLICT
            if status is StateStatus.OUTCOME_UNKNOWN and override_unknown:
                return _EXECUTE
            return Decision(Verdict.DUPLICATE, entry)
        return _EXECUTE  # not_sent, failed, expired: nothing blocks a new execution

    def begin(self, instance_id: str, key: str, fingerprint: str) -> None:
        """This worker runs the command now (from before its first call to its last record)."""
        slot = _slot(instance_id, key)
        self._running[slot] = fingerprint
        if self._looked_up[0] == slot:  # decide() read it just now, with no await since
            self._latest[slot] = self._looked_up[1]

    def end(self, instance_id: str, key: str) -> None:
        slot = _slot(instance_id, key)
        self._store_in_progress(slot)  # a command that ended on it (cut off mid-call)
        self._running.pop(slot, None)
        self._latest.pop(slot, None)

    def is_running(self, instance_id: str, key: str) -> bool:
        return _slot(instance_id, key) in self._running
