"""Admission: where one fetched record goes before any lane.

A record that cannot be decoded is dead-lettered; a command found on a partition other than its
instance's is forwarded there once (docs/contract.md "Topics"); a rejected command is answered
without a call; any other command is left for its lane.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from wawp_gateway.core.contracts import DlqReason, ErrorInfo, ResultStatus
from wawp_gateway.core.metrics import Metrics
from wawp_gateway.core.partitioning import partition_for
from wawp_gateway.core.values import immutable
from wawp_gateway.worker.intake import (
    Envelope,
    OutboundCommand,
    Rejection,
    Undecodable,
    decode,
    header,
)
from wawp_gateway.worker.outputs import Outputs
from wawp_gateway.worker.pipeline import Outcome

__all__ = [
    "REROUTED_HEADER",
    "Reroute",
    "admission",
    "envelope_of",
    "forward",
    "rejected",
]

log = structlog.get_logger(__name__)

REROUTED_HEADER = "gateway-rerouted"


@immutable
class Reroute:
    """The record belongs on partition ``target`` of its topic."""

    item: OutboundCommand | Rejection
    target: int


def envelope_of(record: Any) -> Envelope:
    """A fetched consumer record as the worker reads it."""
    return Envelope(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
    )


def admission(
    envelope: Envelope,
    *,
    is_known_instance: Callable[[str], bool],
    partitions_of: Callable[[str], int | None],
) -> Undecodable | Reroute | Rejection | OutboundCommand:
    """What the record is, and whether it runs here."""
    item = decode(envelope, is_known_instance=is_known_instance)
    if isinstance(item, Undecodable):
        return item
    target = _reroute_target(envelope, item, partitions_of)
    if target is not None:
        return Reroute(item, target)
    return item


def _reroute_target(
    envelope: Envelope,
    item: OutboundCommand | Rejection,
    partitions_of: Callable[[str], int | None],
) -> int | None:
    if item.instance_id is None or header(envelope, REROUTED_HEADER) == "true":
        return None
    count = partitions_of(envelope.topic)
    if not count:
        return None
    target = partition_for(item.instance_id, count)
    return None if target == envelope.partition else target


def rejected(item: Rejection) -> Outcome:
    """The outcome of a command rejected before any call."""
    return Outcome(
        status=ResultStatus.REJECTED,
        attempts=0,
        error=ErrorInfo(code=item.error.code, message=item.error.message, retryable=False),
        dlq_reason=DlqReason(item.error.dlq_reason),
    )


async def forward(outputs: Outputs, metrics: Metrics, envelope: Envelope, reroute: Reroute) -> None:
    """The record, unchanged, on its instance's partition, marked as forwarded."""
    assert reroute.item.instance_id is not None
    headers = [*envelope.headers, (REROUTED_HEADER, b"true")]
    await outputs.send(
        envelope.topic,
        envelope.value,
        reroute.item.instance_id.encode(),
        headers,
        partition=reroute.target,
    )
    metrics.rerouted.inc()
    log.warning("command.rerouted", from_partition=envelope.partition, to_partition=reroute.target)
