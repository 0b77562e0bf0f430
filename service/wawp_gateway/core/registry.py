"""The live instance registry: the instances file as the starting set, ``wawp.instances``
records over it (docs/contract.md "Instance registry").

A record for an instance overrides the file's entry; a tombstone or ``enabled: false`` removes
the instance, whatever the file says. Lookups are plain reads of memory (the worker asks for
every command); ``apply`` is what a ``CompactedTopicFollower`` of the topic calls for each
record. Listeners hear of every instance whose limits changed or that went away, so the pacing
can retune a live bucket.

Tokens stay ``SecretStr``: nothing here logs or prints a record's value.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import structlog
from pydantic import SecretStr, ValidationError

from wawp_gateway.core.contracts import InstanceRecord
from wawp_gateway.core.instances import InstancesConfig

__all__ = ["InstanceEntry", "InstanceRegistry", "Source"]

log = structlog.get_logger(__name__)

Source = Literal["file", "topic"]


@dataclass(frozen=True, slots=True)
class InstanceEntry:
    """One instance as the registry knows it (limits already filled from ``[defaults]``)."""

    instance_id: str
    rate_per_minute: float
    burst: int
    access_token: SecretStr | None
    enabled: bool
    source: Source


class InstanceRegistry:
    """Which instances exist, their limits and tokens: the file, then the topic's records."""

    def __init__(
        self,
        instances: InstancesConfig,
        *,
        default_token: SecretStr | None = None,
        allow_unlisted: bool = False,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._file = instances
        self._default_token = default_token
        self._allow_unlisted = allow_unlisted
        # The topic's last word per instance: a record (maybe disabled) or None (tombstone).
        self._records: dict[str, InstanceRecord | None] = {}
        # What every lookup reads (once per command and call): the file's entries with the
        # topic's over them, kept up to date by `apply`; removed instances are absent.
        self._entries: dict[str, InstanceEntry] = {
            instance_id: self._file_entry(instance_id) for instance_id in instances.instances
        }
        self._listeners: list[Callable[[str], None]] = []
        self._catch_up: Callable[[], Awaitable[None]] | None = None
        # Start of the latest finished catch-up: every record acknowledged before it is applied.
        self._caught_up_since = float("-inf")
        self._now = now

    # -- the topic --------------------------------------------------------------------------

    def apply(self, key: str, value: bytes | None) -> None:
        """One ``wawp.instances`` record (``value`` None: a tombstone). A value that is not a
        ``wawp.instance.v1`` record for its key is skipped with a warning (never its text)."""
        before = self._limits_or_none(key)
        if value is None:
            self._records[key] = None
        else:
            try:
                record = InstanceRecord.model_validate_json(value)
            except ValidationError as exc:
                log.warning(
                    "instance.record_skipped",
                    instance_id=key,
                    problem="; ".join(
                        f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}"
                        for e in exc.errors(include_input=False, include_url=False)[:3]
                    ),
                )
                return
            if record.instance_id != key:
                log.warning(
                    "instance.record_skipped", instance_id=key, problem="key is not instance_id"
                )
                return
            self._records[key] = record
        entry = self._topic_entry(key)
        if entry is None:
            self._entries.pop(key, None)
        else:
            self._entries[key] = entry
        after = self._limits_or_none(key)
        if after != before:
            log.info(
                "instance.changed",
                instance_id=key,
                enabled=after is not None,
                rate_per_minute=after[0] if after else None,
                burst=after[1] if after else None,
            )
            for listener in self._listeners:
                listener(key)

    def follow_with(self, catch_up: Callable[[], Awaitable[None]]) -> None:
        """The topic is followed: ``catch_up`` reads it to its current end (read-your-writes)."""
        self._catch_up = catch_up

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(instance_id)`` when an instance's limits change or it goes away."""
        self._listeners.append(listener)

    # -- lookups ----------------------------------------------------------------------------

    def entry(self, instance_id: str) -> InstanceEntry | None:
        """The instance as configured, enabled or not; None when neither source names it."""
        return self._entries.get(instance_id)

    def _topic_entry(self, instance_id: str) -> InstanceEntry | None:
        record = self._records[instance_id]
        if record is None:
            return None
        defaults = self._file.defaults
        return InstanceEntry(
            instance_id,
            record.rate_per_minute or defaults.rate_per_minute,
            record.burst or defaults.burst,
            record.access_token,
            record.enabled,
            "topic",
        )

    def _file_entry(self, instance_id: str) -> InstanceEntry:
        limits = self._file.limits_for(instance_id)
        token = self._file.instances[instance_id].access_token
        return InstanceEntry(instance_id, limits.rate_per_minute, limits.burst, token, True, "file")

    def entries(self) -> Iterator[InstanceEntry]:
        """Every instance either source names, disabled ones too (removed ones left out),
        sorted by id."""
        for instance_id in sorted(self._entries):
            yield self._entries[instance_id]

    def is_known(self, instance_id: str) -> bool:
        entry = self._entries.get(instance_id)
        if entry is not None:
            return entry.enabled
        return self._allow_unlisted and instance_id not in self._records

    def admits(self, instance_id: str) -> bool:
        """Whether a command may be taken in before its instance is confirmed: yes when the
        registry can catch up (``confirm`` decides later, in the command's lane)."""
        return self._catch_up is not None or self.is_known(instance_id)

    async def confirm(self, instance_id: str, *, received_at: float) -> bool:
        """``is_known``, after reading the topic to its end when the instance is not known
        yet: a command published after its ``instances put`` was acknowledged finds it.

        ``received_at`` (``time.monotonic()``) is when the command was fetched: a catch-up
        begun after that has read every record acknowledged before it was published, so a
        flood of commands for an unknown instance costs one catch-up, not one each."""
        if self.is_known(instance_id):
            return True
        if self._catch_up is None:
            return False
        if self._caught_up_since < received_at:
            started = self._now()
            await self._catch_up()
            self._caught_up_since = max(self._caught_up_since, started)
        return self.is_known(instance_id)

    def limits_for(self, instance_id: str) -> tuple[float, int]:
        limits = self._limits_or_none(instance_id)
        if limits is not None:
            return limits
        defaults = self._file.defaults
        return defaults.rate_per_minute, defaults.burst

    def token_for(self, instance_id: str) -> SecretStr | None:
        """The instance's own token, else the default; None for an instance not allowed."""
        entry = self._entries.get(instance_id)
        if entry is not None and entry.enabled:
            return entry.access_token or self._default_token
        return self._default_token if self.is_known(instance_id) else None

    def _limits_or_none(self, instance_id: str) -> tuple[float, int] | None:
        entry = self._entries.get(instance_id)
        if entry is None or not entry.enabled:
            return None
        return entry.rate_per_minute, entry.burst
