"""The consumer's rebalance listener: the worker's revoke and assignment, logged around them."""

from __future__ import annotations

import time
from typing import Protocol

import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition

__all__ = ["RebalanceListener"]

log = structlog.get_logger(__name__)


class _Member(Protocol):
    async def on_revoked(self, revoked: set[TopicPartition]) -> None: ...

    def on_assigned(self, assigned: set[TopicPartition]) -> None: ...


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, member: _Member) -> None:
        self._member = member

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions.revoked", count=len(revoked))
        started = time.monotonic()
        await self._member.on_revoked(set(revoked))
        # The group waits for every member's revoke before it assigns anything: a slow one
        # stalls every worker, so its time is in the log.
        log.info(
            "revocation.completed",
            count=len(revoked),
            seconds=round(time.monotonic() - started, 3),
        )

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info(
            "partitions.assigned",
            partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in assigned),
        )
        self._member.on_assigned(set(assigned))
