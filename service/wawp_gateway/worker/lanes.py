"""Key-ordered scheduling: lanes, buffer bounds and pause/resume decisions. Pure.

A lane is ``(input partition, instance_id, chatId)``: commands of one lane run one at a time
in arrival order, different lanes run concurrently. The two input topics make separate lanes:
Kafka gives no order between topics, and admin commands must not queue behind sends. Buffers
are bounded per partition (the partition, not the consumer, is paused when full) and per
instance (so one instance cannot fill a partition's buffer on its own).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["LaneBook", "LaneKey", "Limits"]

T = TypeVar("T")
P = TypeVar("P", bound=Hashable)
LaneKey = tuple[Hashable, str | None, str | None]  # (partition, instance_id, chatId)


@dataclass(frozen=True, slots=True)
class Limits:
    max_buffered_per_partition: int
    max_buffered_per_instance: int

    @property
    def resume_below(self) -> int:
        """Hysteresis: a paused partition resumes once half of its buffer has drained."""
        return max(1, self.max_buffered_per_partition // 2)


@dataclass(slots=True)
class _Lane(Generic[T, P]):
    partition: P
    instance: str | None
    items: deque[T] = field(default_factory=deque)


class LaneBook(Generic[T, P]):
    """Who waits where. ``add`` says when a lane becomes runnable; ``finish`` hands out the
    lane's next item. The caller runs one task per runnable lane."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lanes: dict[LaneKey, _Lane[T, P]] = {}
        self._per_partition: dict[P, int] = {}
        self._per_instance: dict[str | None, int] = {}
        # Instances at their buffer bound: asked per fetched batch, so kept rather than searched.
        self._full_instances: set[str | None] = set()

    @staticmethod
    def key(partition: P, instance: str | None, chat: str | None) -> LaneKey:
        return (partition, instance, chat)

    def add(self, partition: P, instance: str | None, chat: str | None, item: T) -> bool:
        """Queue ``item``; True when its lane was idle (the caller must start it)."""
        key = (partition, instance, chat)
        lane = self._lanes.get(key)
        started = lane is None
        if lane is None:
            lane = self._lanes[key] = _Lane(partition, instance)
        lane.items.append(item)
        self._per_partition[partition] = self._per_partition.get(partition, 0) + 1
        count = self._per_instance[instance] = self._per_instance.get(instance, 0) + 1
        if count >= self.limits.max_buffered_per_instance:
            self._full_instances.add(instance)
        return started

    def head(self, key: LaneKey) -> T | None:
        lane = self._lanes.get(key)
        return lane.items[0] if lane and lane.items else None

    def heads(self) -> Iterator[T]:
        """The first item of every lane: the oldest each lane holds (running or next)."""
        for lane in self._lanes.values():
            if lane.items:
                yield lane.items[0]

    def finish(self, key: LaneKey) -> T | None:
        """The lane's head is done (or dropped): return the next item, or None (lane closed)."""
        lane = self._lanes[key]
        lane.items.popleft()
        self._release(lane.partition, lane.instance)
        if lane.items:
            return lane.items[0]
        del self._lanes[key]
        return None

    def drop_partition(self, partition: P) -> list[tuple[LaneKey, list[T]]]:
        """Forget every lane of ``partition`` (revoked); returns what was queued there."""
        dropped = []
        for key, lane in list(self._lanes.items()):
            if lane.partition == partition:
                dropped.append((key, list(lane.items)))
                for _ in lane.items:
                    self._release(partition, lane.instance)
                del self._lanes[key]
        return dropped

    def _release(self, partition: P, instance: str | None) -> None:
        self._per_partition[partition] -= 1
        count = self._per_instance[instance] = self._per_instance[instance] - 1
        if count < self.limits.max_buffered_per_instance:
            self._full_instances.discard(instance)
        if not count:
            del self._per_instance[instance]

    def buffered(self, partition: P) -> int:
        return self._per_partition.get(partition, 0)

    def buffered_for(self, instance: str | None) -> int:
        return self._per_instance.get(instance, 0)

    def total(self) -> int:
        return sum(self._per_partition.values())

    def is_full(self, partition: P) -> bool:
        return self.buffered(partition) >= self.limits.max_buffered_per_partition

    def instance_is_full(self, instance: str | None) -> bool:
        return self.buffered_for(instance) >= self.limits.max_buffered_per_instance

    def any_instance_full(self, instances: set[str]) -> bool:
        """Whether one of ``instances`` is at its buffer bound."""
        full = self._full_instances
        return bool(full) and not full.isdisjoint(instances)

    def full_among(self, instances: set[str]) -> set[str | None]:
        """Which of ``instances`` are at their buffer bound."""
        full = self._full_instances
        return full & instances if full else set()

    def may_resume(self, partition: P) -> bool:
        return self.buffered(partition) < self.limits.resume_below

    def lanes(self) -> int:
        return len(self._lanes)
