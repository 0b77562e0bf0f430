"""The idempotency store: per (instance, key), what is known of a command's Wawp calls.

Pure: it is fed the records of one ``wawp.state`` partition (restore, and the worker's own
writes) and answers what to do with a command. The changelog itself is ``statelog.py``; the rules
are ARCHITECTURE.md's "Idempotency and replay".
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from wawp_gateway.contracts import StateStatus

__all__ = [
    "BLOCKING",
    "TERMINAL",
    "Decision",
    "Entry",
    "PartitionState",
    "StateEvent",
    "Verdict",
    "fingerprint",
]

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

ErrorTuple = tuple[str, str, bool]  # code, message, retryable
# Finished commands remembered per key besides the latest (a key reused after a failure): a
# crash re-delivers them too, and each must be answered from its own outcome.
_EARLIER_PER_KEY = 8


def fingerprint(instance_id: str, action: str, params: Mapping[str, Any]) -> str:
    """What makes two commands "the same": instance, action and the normalized params."""
    canonical = json.dumps(
        [instance_id, action, params], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class StateEvent:
    """One ``wawp.state`` record as the store needs it (times are Unix seconds)."""

    instance_id: str
    key: str
    status: StateStatus
    command_id: str
    replay_count: int
    fingerprint: str
    recorded_at: float
    attempts: int = 0
    message_id: str | None = None
    error: ErrorTuple | None = None
    first_attempt_at: float | None = None


class Entry:
    """The latest record of a key. Slots and plain values: a restore may hold a million."""

    __slots__ = (
        "attempts",
        "command_id",
        "earlier",
        "error",
        "fingerprint",
        "first_attempt_at",
        "message_id",
        "recorded_at",
        "replay_count",
        "status",
    )

    def __init__(self, event: StateEvent) -> None:
        self.status = event.status
        self.fingerprint = event.fingerprint
        # The common case (no idempotency_key: the key is the id) shares one string.
        self.command_id = event.key if event.command_id == event.key else event.command_id
        self.replay_count = event.replay_count
        self.message_id = event.message_id
        self.error = event.error
        self.first_attempt_at = event.first_attempt_at
        self.recorded_at = event.recorded_at
        self.attempts = event.attempts
        self.earlier: tuple[Entry, ...] | None = None

    def same_command(self, command_id: str, replay_count: int) -> bool:
        return self.command_id == command_id and self.replay_count == replay_count

    def finished(
        self, command_id: str, replay_count: int, *, now: float, retention_s: float
    ) -> Entry | None:
        """This key's terminal entry of that command (a re-delivery), if any, within retention."""
        if self.status in TERMINAL and self.same_command(command_id, replay_count):
            return self
        for entry in self.earlier or ():
            if (
                entry.same_command(command_id, replay_count)
                and entry.recorded_at + retention_s >= now
            ):
                return entry
        return None


class Verdict(enum.Enum):
    EXECUTE = "execute"  # call Wawp
    DUPLICATE = "duplicate"  # answer from the entry, no call
    CONFLICT = "conflict"  # another payload holds the key: rejected
    WAIT = "wait"  # the same command runs in another lane of this worker
    AMBIGUOUS = "ambiguous"  # a call of an earlier owner may have reached Wawp


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    entry: Entry | None = None


_EXECUTE = Decision(Verdict.EXECUTE)
_CONFLICT = Decision(Verdict.CONFLICT)
_WAIT = Decision(Verdict.WAIT)


def _slot(instance_id: str, key: str) -> str:
    # One string per key (a tuple would cost another object per entry); keys are scoped per
    # instance, and the separator cannot occur in an instance id.
    return f"{instance_id}\x1f{key}"


class PartitionState:
    """The idempotency records of one ``wawp.state`` partition, and the commands of that
    partition running in this worker now (``begin``/``end``).

    Holds at most ``max_keys`` keys: past that the least recently updated are dropped first,
    as if their retention had ended (counted in ``evicted``)."""

    def __init__(self, retention_s: float, max_keys: int = 1_000_000) -> None:
        self._retention_s = retention_s
        self._max_keys = max_keys
        # In the order of last update: the oldest first, for expiry and eviction.
        self._entries: dict[str, Entry] = {}
        self._running: dict[str, str] = {}
        self.last_status: StateStatus | None = None
        self.records = 0
        # Every record read, markers included: zero means the partition never had an owner.
        self.log_records = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> Iterator[tuple[str, str, Entry]]:
        for slot, entry in self._entries.items():
            instance_id, key = slot.split("\x1f", 1)
            yield instance_id, key, entry

    # -- the changelog -------------------------------------------------------------------------

    def released(self) -> None:
        self.last_status = StateStatus.RELEASED
        self.records += 1

    def apply(self, event: StateEvent, now: float) -> None:
        """One record, in log order; expired ones are left out."""
        self.last_status = event.status
        self.records += 1
        if event.recorded_at + self._retention_s < now:
            return
        entries = self._entries
        slot = _slot(event.instance_id, event.key)
        # Every record carries its command's attempt count and first attempt time, so the
        # latest one is all a key needs; re-inserting keeps the dict in update order.
        previous = entries.pop(slot, None)
        entry = entries[slot] = Entry(event)
        if previous is not None:
            entry.earlier = previous.earlier
            if (
                previous.status in TERMINAL
                and previous.recorded_at + self._retention_s >= now
                and not previous.same_command(event.command_id, event.replay_count)
            ):
                previous.earlier = None
                entry.earlier = (previous, *(entry.earlier or ()))[:_EARLIER_PER_KEY]
        if len(entries) > self._max_keys:
            del entries[next(iter(entries))]
            self.evicted += 1

    def expire(self, now: float) -> int:
        """Drop entries past the retention (the oldest are first)."""
        dropped = 0
        retention_s = self._retention_s
        entries = self._entries
        while entries:
            slot = next(iter(entries))
            if entries[slot].recorded_at + retention_s >= now:
                break
            del entries[slot]
            dropped += 1
        return dropped

    # -- deciding --------------------------------------------------------------------------------

    def get(self, instance_id: str, key: str, now: float) -> Entry | None:
        entry = self._entries.get(_slot(instance_id, key))
        if entry is not None and entry.recorded_at + self._retention_s < now:
            return None
        return entry

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
            entry.finished(command_id, replay_count, now=now, retention_s=self._retention_s)
            if entry is not None
            else None
        )
        if finished is not None:
            # A re-delivery of a finished command: answered from the state, never re-executed.
            return Decision(Verdict.DUPLICATE, finished)
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
        self._running[_slot(instance_id, key)] = fingerprint

    def end(self, instance_id: str, key: str) -> None:
        self._running.pop(_slot(instance_id, key), None)

    def is_running(self, instance_id: str, key: str) -> bool:
        return _slot(instance_id, key) in self._running
