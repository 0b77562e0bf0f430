"""``wawp-gateway instances ls | put | rm``: the live instance registry from the command line.

``put`` and ``rm`` write one ``wawp.instances`` record and return once the brokers acknowledged
it (``acks=all``): a command published after that is never rejected ``unknown_instance``
(docs/contract.md "Instance registry"). ``put`` starts from the instance's current record, so
changing its rate keeps its token. Tokens come from an environment variable (``--token-env``),
never from an argument, and are shown only as ``set`` or ``default``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka.errors import KafkaError
from pydantic import SecretStr, ValidationError

from wawp_gateway.core.config import RegistryClientSettings, load_registry_settings
from wawp_gateway.core.contracts import InstanceRecord, SessionRecord
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.follower import CompactedTopicFollower, TopicMissing
from wawp_gateway.core.instances import InstancesConfig
from wawp_gateway.core.kafka import build_producer, start_client
from wawp_gateway.core.registry import InstanceRegistry
from wawp_gateway.core.sections import KafkaSettings

__all__ = ["InstanceRow", "add_parser", "list_instances", "put_instance", "remove_instance"]

_CLIENT_ID = "wawp-gateway-instances"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """One line of ``instances ls``: nothing secret in it."""

    instance: str
    rate_per_minute: float
    burst: int
    enabled: bool
    source: str
    token: str  # "set" or "default"
    session: str  # the last session status, "-" when none is known


async def _read(kafka: KafkaSettings, topic: str, apply: Any) -> None:
    follower = CompactedTopicFollower(kafka, topic, apply, client_id=_CLIENT_ID)
    await follower.start()
    await follower.stop()


async def _registry(kafka: KafkaSettings, topic: str, file: InstancesConfig) -> InstanceRegistry:
    registry = InstanceRegistry(file)
    await _read(kafka, topic, registry.apply)
    return registry


async def _write(kafka: KafkaSettings, topic: str, key: str, value: bytes | None) -> int:
    producer = build_producer(kafka, linger_ms=0)
    await start_client(producer, kafka)
    try:
        metadata = await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()
    return int(metadata.offset)


async def put_instance(
    kafka: KafkaSettings,
    topic: str,
    instance_id: str,
    *,
    rate_per_minute: float | None = None,
    burst: int | None = None,
    access_token: SecretStr | None = None,
    enabled: bool = True,
) -> InstanceRecord:
    """Write the instance's record (what is not given is kept from its current record) and
    return it once acknowledged."""
    current: list[InstanceRecord | None] = [None]

    def keep(key: str, value: bytes | None) -> None:
        if key != instance_id:
            return
        try:
            current[0] = None if value is None else InstanceRecord.model_validate_json(value)
        except ValidationError:
            current[0] = None  # an unreadable record is replaced, not merged

    await _read(kafka, topic, keep)
    before = current[0]
    try:
        record = InstanceRecord(
            instance_id=instance_id,
            rate_per_minute=_given_or(rate_per_minute, before and before.rate_per_minute),
            burst=_given_or(burst, before and before.burst),
            access_token=_given_or(access_token, before and before.access_token),
            enabled=enabled,
            updated_at=datetime.now(UTC),
        )
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        raise ConfigError("instance", f"{first['loc'][0]}: {first['msg']}") from None
    await _write(kafka, topic, instance_id, record.to_kafka())
    return record


def _given_or(given: _T | None, kept: _T | None) -> _T | None:
    return given if given is not None else kept


async def remove_instance(kafka: KafkaSettings, topic: str, instance_id: str) -> None:
    """Write the instance's tombstone; return once acknowledged."""
    await _write(kafka, topic, instance_id, None)


async def list_instances(settings: RegistryClientSettings) -> list[InstanceRow]:
    """Every instance the file and the registry topic name, with its last session status."""
    registry = await _registry(settings.kafka, settings.topics.instances, settings.instances)
    sessions: dict[str, str] = {}

    def note(key: str, value: bytes | None) -> None:
        if value is None:
            sessions.pop(key, None)
            return
        try:
            sessions[key] = SessionRecord.model_validate_json(value).status.value
        except ValidationError:
            return

    # No session topic (an older deployment): every row shows "-".
    with contextlib.suppress(TopicMissing):
        await _read(settings.kafka, settings.topics.sessions, note)
    return [
        InstanceRow(
            entry.instance_id,
            entry.rate_per_minute,
            entry.burst,
            entry.enabled,
            entry.source,
            "set" if entry.access_token is not None else "default",
            sessions.get(entry.instance_id, "-"),
        )
        for entry in registry.entries()
    ]


def _format(rows: list[InstanceRow]) -> str:
    header = ("INSTANCE", "RATE/MIN", "BURST", "ENABLED", "SOURCE", "TOKEN", "SESSION")
    lines = [header] + [
        (
            r.instance,
            f"{r.rate_per_minute:g}",
            str(r.burst),
            "yes" if r.enabled else "no",
            r.source,
            r.token,
            r.session,
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _kafka_failed(exc: KafkaError) -> int:
    print(f"error: the registry topic could not be used: {type(exc).__name__}", file=sys.stderr)
    return 1


def _cmd_ls(args: argparse.Namespace) -> int:
    settings = load_registry_settings()
    try:
        rows = asyncio.run(list_instances(settings))
    except KafkaError as exc:
        return _kafka_failed(exc)
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
    else:
        print(_format(rows))
    if settings.instances_file is None:
        # The workers' starting set lives in their instances file; this shell may not name it
        # (`make run` gives it to its worker only).
        print(
            "note: no GATEWAY_INSTANCES_FILE here: the instances of the workers' file are not "
            "listed, only the registry topic's",
            file=sys.stderr,
        )
    return 0


def _token_from(name: str | None) -> SecretStr | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise ConfigError(name, "--token-env names a variable that is not set or empty")
    return SecretStr(value)


def _cmd_put(args: argparse.Namespace) -> int:
    settings = load_registry_settings()
    try:
        record = asyncio.run(
            put_instance(
                settings.kafka,
                settings.topics.instances,
                args.instance_id,
                rate_per_minute=args.rate_per_minute,
                burst=args.burst,
                access_token=_token_from(args.token_env),
                enabled=not args.disable,
            )
        )
    except KafkaError as exc:
        return _kafka_failed(exc)
    token = "set" if record.access_token is not None else "default"
    rate = "default" if record.rate_per_minute is None else f"{record.rate_per_minute:g}"
    print(
        f"{record.instance_id}: {'enabled' if record.enabled else 'disabled'}, "
        f"rate {rate}/min, burst {record.burst or 'default'}, token {token}"
    )
    return 0


def _cmd_rm(args: argparse.Namespace) -> int:
    settings = load_registry_settings()
    try:
        asyncio.run(remove_instance(settings.kafka, settings.topics.instances, args.instance_id))
    except KafkaError as exc:
        return _kafka_failed(exc)
    print(f"{args.instance_id}: removed")
    if args.instance_id in settings.instances.instances:
        print(
            f"note: {args.instance_id} is in GATEWAY_INSTANCES_FILE: where the topic is "
            "compacted, the file's entry applies again once the tombstone is cleaned up; "
            f"`instances put {args.instance_id} --disable` keeps it off",
            file=sys.stderr,
        )
    return 0


def add_parser(sub: Any) -> None:
    """``instances ls``, ``instances put`` and ``instances rm`` on ``sub``."""
    instances = sub.add_parser("instances", help="the live instance registry (wawp.instances)")
    instances_sub = instances.add_subparsers(dest="instances_command", required=True)

    ls = instances_sub.add_parser("ls", help="list instances, their limits and session status")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(run=_cmd_ls)

    put = instances_sub.add_parser("put", help="add or change an instance (no restart)")
    put.add_argument("instance_id", metavar="ID")
    put.add_argument("--rate-per-minute", type=float, help="calls per minute (default: kept)")
    put.add_argument("--burst", type=int, help="calls an idle instance may make at once")
    put.add_argument(
        "--token-env", metavar="NAME", help="environment variable holding the instance's token"
    )
    put.add_argument("--disable", action="store_true", help="keep the record, take it out")
    put.set_defaults(run=_cmd_put)

    rm = instances_sub.add_parser("rm", help="remove an instance (its record's tombstone)")
    rm.add_argument("instance_id", metavar="ID")
    rm.set_defaults(run=_cmd_rm)
