"""A production-like ``wawp.state`` changelog for the restore scenario (deterministic).

Per command: one ``in_progress`` record per attempt, then its terminal record a moment later,
interleaved with other commands' records as concurrent lanes would write them: mostly
``succeeded`` with a message id, some ``failed`` with an error, a few ``outcome_unknown``. A few
commands are replays of a recent one (same key and command id, ``replay_count`` + 1), so keys
are slightly fewer than commands. Ids look like the real ones: UUID or ULID command ids, the
command id as the key unless the client gave an idempotency key, WhatsApp message ids. The
first ``expired_share`` of the commands lie past the retention (a restore reads and skips
them); the others spread over the retention window up to now, in log order.
"""

from __future__ import annotations

import random
import string
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import NamedTuple

from wawp_gateway.core.contracts import StateStatus
from wawp_gateway.worker.state.entries import StateEvent
from wawp_gateway.worker.state.statelog import encode_event

__all__ = ["Record", "StateLoad", "changelog"]

_RECORDS_PER_COMMAND = 2.08  # in_progress per attempt (5 % retried) + one terminal
_IN_FLIGHT = 32  # terminals waiting while later commands start (interleaving)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ACTIONS = ("sendText",) * 16 + ("sendImage", "sendImage", "sendFile", "sendLocation")
_FAILURES = (
    ("http_400", "Wawp answered 400: chatId is not a valid WhatsApp id", False),
    ("invalid_access_token", "Wawp answered 401: invalid access token", False),
    ("quota_exceeded", "Wawp answered 403: the instance's message quota is used up", False),
    ("http_503", "Wawp answered 503 on every attempt within the retry time cap", True),
    ("instance_unavailable", "the instance was held past the retry time cap", True),
)
_UNKNOWN = ("maybe_sent", "Wawp may have acted on it (timeout); not resent", False)


@dataclass(frozen=True, slots=True)
class StateLoad:
    records: int
    partitions: int = 1
    instances: int = 1000
    retention_s: float = 86_400.0  # the default GATEWAY_IDEMPOTENCY__RETENTION_S
    expired_share: float = 0.05
    seed: int = 7


@dataclass(frozen=True, slots=True)
class _Command:
    partition: int
    instance_id: str
    key: str
    command_id: str
    fingerprint: str
    chat_id: str
    action: str
    correlation_id: str | None
    replay_count: int = 0


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def ulid(self, at: float) -> str:
        value = (int(at * 1000) << 80) | self._rng.getrandbits(80)
        return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def command_id(self, at: float) -> str:
        return self.uuid() if self._rng.random() < 0.6 else self.ulid(at)

    def client_key(self, at: float) -> str | None:
        roll = self._rng.random()
        if roll < 0.7:
            return None  # the common case: the command id is the key
        if roll < 0.85:
            return f"order-{self._rng.randrange(10**7, 10**8)}-confirmation"
        return f"campaign:{self.ulid(at)}:{self._rng.randrange(10**10, 10**11)}"

    def message_id(self, chat_id: str) -> str:
        short = f"3EB0{self._rng.getrandbits(64):016X}"
        return short if self._rng.random() < 0.5 else f"true_{chat_id}_{short}"


class Record(NamedTuple):
    partition: int
    key: bytes
    value: bytes
    recorded_at: float


def changelog(load: StateLoad, now: float) -> Iterator[Record]:
    """``load.records`` records, in log order."""
    rng = random.Random(load.seed)
    ids = _Ids(rng)
    alphabet = string.ascii_uppercase + string.digits
    instances = ["".join(rng.choices(alphabet, k=12)) for _ in range(load.instances)]
    commands = max(1, int(load.records / _RECORDS_PER_COMMAND))
    expired = int(commands * load.expired_share)
    # Expired: spread over the day before the retention began; live: over the retention.
    old_start, old_step = now - load.retention_s - 86_400, 86_000 / max(1, expired)
    live_start = now - load.retention_s + 600
    live_step = (load.retention_s - 660) / max(1, commands - expired)
    recent: deque[_Command] = deque(maxlen=1000)
    waiting: deque[tuple[_Command, StateEvent]] = deque()
    emitted = 0
    number = 0
    while emitted < load.records:
        at = old_start + number * old_step
        if number >= expired:
            at = min(now - 1, live_start + (number - expired) * live_step)
        number += 1
        if recent and rng.random() < 0.015:
            earlier = rng.choice(recent)
            command = replace(earlier, replay_count=earlier.replay_count + 1)
        else:
            command = _new_command(load, rng, ids, instances, at)
        recent.append(command)
        attempts = rng.choice((2, 3)) if rng.random() < 0.05 else 1
        for attempt in range(1, attempts + 1):
            step = at + (attempt - 1) * 2.0
            started = _event(command, StateStatus.IN_PROGRESS, step, attempt, first_at=at)
            yield _record(command, started)
            emitted += 1
            if emitted >= load.records:
                return
        waiting.append((command, _terminal(command, rng, ids, at, attempts)))
        while len(waiting) > _IN_FLIGHT:
            done, event = waiting.popleft()
            yield _record(done, event)
            emitted += 1
            if emitted >= load.records:
                return


def _new_command(
    load: StateLoad, rng: random.Random, ids: _Ids, instances: list[str], at: float
) -> _Command:
    index = rng.randrange(len(instances))
    command_id = ids.command_id(at)
    return _Command(
        partition=index % load.partitions,
        instance_id=instances[index],
        key=ids.client_key(at) or command_id,
        command_id=command_id,
        fingerprint=f"{rng.getrandbits(128):032x}",
        chat_id=f"{rng.randrange(10**11, 10**12)}@c.us",
        action=rng.choice(_ACTIONS),
        correlation_id=ids.uuid() if rng.random() < 0.5 else None,
    )


def _event(
    command: _Command,
    status: StateStatus,
    at: float,
    attempts: int,
    *,
    first_at: float,
    message_id: str | None = None,
    error: tuple[str, str, bool] | None = None,
) -> StateEvent:
    return StateEvent(
        instance_id=command.instance_id,
        key=command.key,
        status=status,
        command_id=command.command_id,
        replay_count=command.replay_count,
        fingerprint=command.fingerprint,
        recorded_at=at,
        attempts=attempts,
        message_id=message_id,
        error=error,
        first_attempt_at=first_at,
    )


def _terminal(
    command: _Command, rng: random.Random, ids: _Ids, at: float, attempts: int
) -> StateEvent:
    finished = at + (attempts - 1) * 2.0 + rng.uniform(0.1, 1.5)
    roll = rng.random()
    if roll < 0.9:
        message_id = ids.message_id(command.chat_id)
        return _event(
            command, StateStatus.SUCCEEDED, finished, attempts, first_at=at, message_id=message_id
        )
    if roll < 0.98:
        error = rng.choice(_FAILURES)
        return _event(command, StateStatus.FAILED, finished, attempts, first_at=at, error=error)
    return _event(
        command, StateStatus.OUTCOME_UNKNOWN, finished, attempts, first_at=at, error=_UNKNOWN
    )


def _record(command: _Command, event: StateEvent) -> Record:
    value = encode_event(event, correlation_id=command.correlation_id, action=command.action)
    key = f"{command.instance_id}:{command.key}".encode()
    return Record(command.partition, key, value, event.recorded_at)
