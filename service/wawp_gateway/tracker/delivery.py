"""The delivery join (pure): ``message.ack`` events x the sends' terminal records -> deliveries.

Per message: a delivery each time it reaches a higher ack level (lower levels after a higher one
are ignored); ERROR (-1) is final and always reported; acks that arrive before their send's record
wait (bounded, for ``orphan_s``) and are joined when it comes; a send with no DEVICE ack within
``ack_timeout_s`` gets one delivery with ``timeout=True`` and the last level reached. Memory is
bounded: a message is forgotten ``window_s`` after its send, and at most ``max_messages`` are held
(oldest first out). Times are wall-clock seconds since the epoch; the clock is injected.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "ACK_NAMES",
    "DEVICE",
    "ERROR",
    "PENDING",
    "Ack",
    "Delivery",
    "DeliveryJoin",
    "Sent",
    "ack_name",
    "normalize_message_id",
]

ERROR = -1
PENDING = 0
DEVICE = 2
ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}
_MAX_ACKS_PER_ORPHAN = 8


def ack_name(ack: int) -> str:
    return ACK_NAMES.get(ack, "UNKNOWN")


def normalize_message_id(raw: str) -> str:
    """The short id: Wawp's ``true_<chat>_<id>`` (or ``false_...``) -> ``<id>``; others as is."""
    head, sep, rest = raw.partition("_")
    if sep and head in ("true", "false") and "_" in rest:
        return rest.rsplit("_", 1)[1]
    return raw


@dataclass(frozen=True, slots=True)
class Sent:
    """A send's terminal ``succeeded`` record."""

    message_id: str
    instance_id: str
    sent_at: float
    command_id: str | None = None
    correlation_id: str | None = None
    # The command's trace context, as its terminal record's headers carried it.
    trace: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Ack:
    message_id: str
    ack: int
    at: float
    replayed: bool = False  # read again to rebuild the join: its delivery was reported before


@dataclass(frozen=True, slots=True)
class Delivery:
    sent: Sent
    ack: int
    acked_at: float | None
    timeout: bool = False
    replayed: bool = False  # caused by a replayed ack: not to be reported again
    # Set on the one delivery that settles the send for the delivery SLI: "delivered" (DEVICE
    # or higher before its timeout), "ack_timeout", or "failed" (ERROR first).
    ends: str | None = None

    @property
    def ack_name(self) -> str:
        return ack_name(self.ack)

    @property
    def latency_s(self) -> float | None:
        """Send to this ack level (None for a timeout)."""
        if self.timeout or self.acked_at is None:
            return None
        return max(0.0, self.acked_at - self.sent.sent_at)


@dataclass(slots=True)
class _Message:
    created: float
    sent: Sent | None = None
    level: int | None = None
    acked_at: float | None = None
    final: bool = False
    timed_out: bool = False
    ended: bool = False
    waiting: list[Ack] = field(default_factory=list)


class DeliveryJoin:
    def __init__(
        self,
        *,
        ack_timeout_s: float,
        window_s: float,
        orphan_s: float = 600.0,
        max_messages: int = 100_000,
        clock: Callable[[], float],
    ) -> None:
        self._ack_timeout_s = ack_timeout_s
        self._window_s = max(window_s, ack_timeout_s)
        self._orphan_s = orphan_s
        self._max = max_messages
        self._clock = clock
        self._messages: OrderedDict[str, _Message] = OrderedDict()

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def window_s(self) -> float:
        """How long after its send a message is remembered."""
        return self._window_s

    def on_sent(self, sent: Sent) -> list[Delivery]:
        """Join a send's record; returns the deliveries of acks that were waiting for it."""
        now = self._clock()
        if now - sent.sent_at >= self._window_s:
            return []  # history (e.g. a fresh group reading wawp.state from the start)
        message = self._entry(normalize_message_id(sent.message_id), now)
        if message.sent is not None:
            return []  # a re-delivered or duplicate record
        message.sent = sent
        waiting = sorted(message.waiting, key=lambda a: (a.ack == ERROR, a.ack))
        message.waiting = []
        return [d for a in waiting if (d := self._apply(message, a)) is not None]

    def on_ack(self, ack: Ack) -> list[Delivery]:
        key = normalize_message_id(ack.message_id)
        message = self._messages.get(key)
        if message is None:
            message = self._entry(key, self._clock())
        if message.sent is None:
            if len(message.waiting) < _MAX_ACKS_PER_ORPHAN:
                message.waiting.append(ack)
            return []
        delivery = self._apply(message, ack)
        return [] if delivery is None else [delivery]

    def expire(self) -> list[Delivery]:
        """Timeouts due now; forgets messages past their window."""
        now = self._clock()
        out: list[Delivery] = []
        for key, message in list(self._messages.items()):
            sent = message.sent
            if sent is None:
                if now - message.created >= self._orphan_s:
                    del self._messages[key]
                continue
            if now - sent.sent_at >= self._window_s:
                del self._messages[key]
                continue
            if (
                not message.final
                and not message.timed_out
                and (message.level is None or message.level < DEVICE)
                and now - sent.sent_at >= self._ack_timeout_s
            ):
                message.timed_out = True
                level = PENDING if message.level is None else message.level
                out.append(
                    Delivery(
                        sent,
                        level,
                        message.acked_at,
                        timeout=True,
                        ends=_settle(message, "ack_timeout"),
                    )
                )
        return out

    def _entry(self, key: str, now: float) -> _Message:
        message = self._messages.get(key)
        if message is None:
            message = self._messages[key] = _Message(created=now)
            while len(self._messages) > self._max:
                self._messages.popitem(last=False)
        return message

    def _apply(self, message: _Message, ack: Ack) -> Delivery | None:
        assert message.sent is not None
        if message.final:
            return None
        ends = None
        if ack.ack == ERROR:
            message.final = True
            ends = _settle(message, "failed")
        elif message.level is not None and ack.ack <= message.level:
            return None
        else:
            message.level = ack.ack
            if ack.ack >= DEVICE:
                ends = _settle(message, "delivered")
        message.acked_at = ack.at
        return Delivery(message.sent, ack.ack, ack.at, replayed=ack.replayed, ends=ends)


def _settle(message: _Message, result: str) -> str | None:
    """The send's SLI result, the first time one is reached; None after."""
    if message.ended:
        return None
    message.ended = True
    return result
