"""Which results are news: the de-duplication rule for the at-least-once results topic. Pure.

docs/contract.md "Idempotency and replay": one result per command in normal operation; after a
crash a re-delivered command may yield a second one (``duplicate``, or ``outcome_unknown``) with
the same ``replay_count``, and a DLQ replay yields a new one with a higher ``replay_count``.
Consumers keep, per command id, the result with the highest ``replay_count``; at the same count
the first one stays, since a re-delivery's answer says no more than the first (a ``duplicate``
repeats it, an ``outcome_unknown`` only means the worker could not tell after its crash).
"""

from __future__ import annotations

from collections import OrderedDict

from wawp_gateway.core.contracts import Result

__all__ = ["LatestResults"]


class LatestResults:
    """The kept result per command id, for the most recent ``max_commands`` commands (a command
    forgotten past that bound counts as new again)."""

    def __init__(self, max_commands: int = 100_000) -> None:
        if max_commands < 1:
            raise ValueError("max_commands must be at least 1")
        self._kept: OrderedDict[str, Result] = OrderedDict()
        self._max = max_commands

    def offer(self, result: Result) -> bool:
        """Keep ``result`` if it is news (and say so): the first for its command, or one with a
        higher ``replay_count`` than the one kept."""
        kept = self._kept.get(result.command_id)
        if kept is not None and result.replay_count <= kept.replay_count:
            return False
        self._kept[result.command_id] = result
        self._kept.move_to_end(result.command_id)
        while len(self._kept) > self._max:
            self._kept.popitem(last=False)
        return True

    def get(self, command_id: str) -> Result | None:
        return self._kept.get(command_id)

    def __len__(self) -> int:
        return len(self._kept)
