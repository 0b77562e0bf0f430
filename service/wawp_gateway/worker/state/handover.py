"""Taking over partitions: restore their idempotency records, and fence off the last owner.

docs/contract.md "Consumption and hand-over": the embedded broker gives a partition to its new
owner without waiting for the old owner's revoke. So a new owner that finds an earlier owner still
open (marked and neither released nor fenced: ``owners.py``) waits one session timeout after its
assignment (by then the old owner has stopped starting calls: it knows of the rebalance, or has
not heard from the coordinator for that long), then reads the tail again: every call the old
owner could still start is then visible as ``in_progress``. Every owner writes a marker before
it runs anything, so a partition with no marker before the new owner's own never had an owner to
wait for.

Where the worker's store kept a checkpoint of the partition (the same store directory across a
restart, or a partition that comes back), only the changelog after it is read; every restore
ends with a checkpoint, and so does every ``released``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog

from wawp_gateway.core.config import Settings
from wawp_gateway.core.kafka import build_reader, start_client
from wawp_gateway.worker.state.idempotency import PartitionState
from wawp_gateway.worker.state.statelog import StateLog, restore
from wawp_gateway.worker.state.store import KV

__all__ = ["Handover", "TakeOver"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TakeOver:
    states: dict[int, PartitionState]
    records: int
    seconds: float
    waited_s: float
    from_checkpoint: int = 0  # partitions read on from a local checkpoint


class Handover:
    def __init__(self, settings: Settings, state_log: StateLog, store: KV | None = None) -> None:
        """``store``: where the records live (``store.py``); None keeps them in memory."""
        self._settings = settings
        self._log = state_log
        self._store = store

    async def take(self, partitions: set[int], *, assigned_at: float) -> TakeOver:
        """The restored state of ``partitions`` (numbers of ``wawp.state``), fenced.

        ``assigned_at`` is the monotonic moment of the assignment."""
        started = time.monotonic()
        idempotency = self._settings.idempotency
        states = {
            p: PartitionState(
                idempotency.retention_s,
                idempotency.max_keys_per_partition,
                kv=self._store,
                partition=p,
            )
            for p in partitions
        }
        # Where the store kept a partition's checkpoint, only the changelog's tail is read.
        starts = {p: start for p in partitions if (start := states[p].resume()) is not None}
        checkpointed = sum(state.log_records for state in states.values())
        consumer = build_reader(self._settings.kafka)
        await start_client(consumer, self._settings.kafka)
        try:
            async with asyncio.timeout(idempotency.restore_timeout_s):
                ends = await self._marks(partitions)
                for p, start in list(starts.items()):
                    if start > ends[p] + 1:  # ahead of the log: the topic was recreated
                        states[p].forget()
                        del starts[p]
                positions = await restore(
                    consumer, self._log.topic, ends, states, now=time.time(), start=starts
                )
                # Owners that marked the partition and are neither released nor fenced
                # (``owners.py``): any of them may still start a call.
                me = self._log.owner
                unreleased = {p for p in partitions if states[p].owners.open_besides(me)}
                waited = 0.0
                if unreleased:
                    session_s = self._settings.kafka.session_timeout_ms / 1000
                    waited = max(0.0, assigned_at + session_s - time.monotonic())
                    log.info(
                        "handover.waiting",
                        partitions=sorted(unreleased),
                        owners=sorted(
                            {o for p in unreleased for o in states[p].owners.open_besides(me)}
                        ),
                        wait_s=waited,
                    )
                    await asyncio.sleep(waited)
                    tail = await self._marks(unreleased)
                    positions |= await restore(
                        consumer,
                        self._log.topic,
                        tail,
                        {p: states[p] for p in unreleased},
                        now=time.time(),
                        start={p: positions[p] for p in unreleased},
                    )
                for p, state in states.items():
                    state.owners.took_over(me, ends[p])
                    state.checkpoint(positions[p])
        finally:
            await consumer.stop()
        # Changelog records read now (markers included), past any checkpoint.
        records = sum(state.log_records for state in states.values()) - checkpointed
        seconds = time.monotonic() - started
        evicted = sum(state.evicted for state in states.values())
        log.info(
            "handover.restored",
            partitions=sorted(partitions),
            records=records,
            keys=sum(len(state) for state in states.values()),
            evicted=evicted,
            seconds=round(seconds, 3),
            waited_s=round(waited, 3),
            from_checkpoint=len(starts),
        )
        return TakeOver(states, records, seconds, waited, len(starts))

    async def _marks(self, partitions: set[int]) -> dict[int, int]:
        ordered = sorted(partitions)
        offsets = await asyncio.gather(*(self._log.mark(p) for p in ordered))
        return dict(zip(ordered, offsets, strict=True))
