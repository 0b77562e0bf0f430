"""The producer side as the CLI uses it: build a command from ``KEY=VALUE`` pairs, publish it,
and optionally wait for its result."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from wawp_gateway.core.config import ClientSettings
from wawp_gateway.core.contracts import COMMAND_SCHEMA
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.kafka import build_producer
from wawp_gateway.wawp.catalog import ACTIONS, ParamSpec

__all__ = ["build_command", "send_command"]


def _typed(value: str, param: ParamSpec | None) -> Any:
    if param is None or param.type == "string":
        return value
    if param.type == "boolean":
        lowered = value.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        return value  # let validation name the problem
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _place(params: dict[str, Any], action: str, key: str, raw: str) -> None:
    spec = ACTIONS.get(action)
    by_name = {p.name: p for p in spec.params} if spec else {}
    # `file[url]` and `file.url` both mean {"file": {"url": ...}}; a catalog name with dots
    # (`filter.ack`) stays whole.
    if key in by_name and "[" not in key:
        params[key] = _typed(raw, by_name[key])
        return
    path = key.replace("]", "").replace("[", ".").split(".")
    wire_name = path[0] + "".join(f"[{part}]" for part in path[1:])
    node = params
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError("--param", f"{key!r} nests under a param that has a value")
        node = child
    node[path[-1]] = _typed(raw, by_name.get(wire_name))


def build_command(
    action: str,
    *,
    instance_id: str,
    pairs: Sequence[tuple[str, str]] = (),
    params_json: str | None = None,
    command_id: str | None = None,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    reply_to: str | None = None,
    not_after: str | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if params_json:
        loaded = json.loads(params_json)
        if not isinstance(loaded, dict):
            raise ConfigError("--params-json", "must be a JSON object")
        params.update(loaded)
    for key, raw in pairs:
        _place(params, action, key, raw)
    command: dict[str, Any] = {
        "schema": COMMAND_SCHEMA,
        "id": command_id or str(uuid.uuid4()),
        "instance_id": instance_id,
        "action": action,
        "params": params,
    }
    optional = {
        "idempotency_key": idempotency_key,
        "correlation_id": correlation_id,
        "reply_to": reply_to,
        "not_after": not_after,
    }
    command.update({k: v for k, v in optional.items() if v is not None})
    return command


def _input_topic(settings: ClientSettings, action: str, topic: str | None) -> str:
    if topic in (None, "send", "command"):
        spec = ACTIONS.get(action)
        kind = topic or (spec.input_topic if spec else "command")
        return settings.topics.send if kind == "send" else settings.topics.command
    return str(topic)


async def _positioned_consumer(settings: ClientSettings, topic: str) -> AIOKafkaConsumer:
    """A group-less consumer on every partition of ``topic``, positioned at its end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
    )
    await consumer.start()
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer.stop()
        raise ConfigError("GATEWAY_TOPICS__RESULTS", f"topic {topic!r} does not exist")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    for tp in tps:
        consumer.seek(tp, ends[tp])
    return consumer


async def send_command(
    settings: ClientSettings,
    command: dict[str, Any],
    *,
    topic: str | None = None,
    wait: bool = False,
    timeout_s: float = 60.0,
) -> dict[str, Any] | None:
    """Publish ``command`` keyed by instance; with ``wait``, return its result (or raise)."""
    results_topic = command.get("reply_to") or settings.topics.results
    consumer = await _positioned_consumer(settings, str(results_topic)) if wait else None
    producer = build_producer(settings.kafka)
    await producer.start()
    try:
        await producer.send_and_wait(
            _input_topic(settings, str(command["action"]), topic),
            json.dumps(command).encode(),
            key=str(command["instance_id"]).encode(),
        )
        if consumer is None:
            return None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    result = json.loads(record.value)
                    if isinstance(result, dict) and result.get("command_id") == command["id"]:
                        return result
        raise TimeoutError(f"no result for command {command['id']} within {timeout_s:g} s")
    finally:
        await producer.stop()
        if consumer is not None:
            await consumer.stop()
