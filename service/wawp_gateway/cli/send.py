"""``wawp-gateway send``: build a command from ``KEY=VALUE`` pairs and publish it with the
producer SDK; with ``--wait``, print its result as the SDK's ``request`` returns it.

Each send starts a trace (a span of its own when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set) and
prints its id on stderr, so that stdout stays the JSON a script reads (docs/tracing.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from wawp_gateway.cli.pairs import split_pair
from wawp_gateway.core.config import ClientSettings, load_client_settings
from wawp_gateway.core.contracts import COMMAND_SCHEMA, Command, Result, ResultStatus
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.tracing import Tracing
from wawp_gateway.wawp.catalog import ACTIONS, ParamSpec

__all__ = ["add_parser", "build_command"]

# The flag that sets each envelope field, to name it when the envelope does not validate.
_FLAG_OF = {
    "id": "--id",
    "idempotency_key": "--idempotency-key",
    "instance_id": "--instance",
    "action": "action",
    "params": "--param",
    "correlation_id": "--correlation-id",
    "reply_to": "--reply-to",
    "not_after": "--not-after",
}
_ANSWERED = (ResultStatus.SUCCEEDED, ResultStatus.DUPLICATE)


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
    """The command as a JSON object: params from ``params_json``, then from ``pairs``."""
    params: dict[str, Any] = {}
    if params_json:
        try:
            loaded = json.loads(params_json)
        except json.JSONDecodeError as exc:
            raise ConfigError("--params-json", f"not JSON: {exc}") from None
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


def _validated(command: dict[str, Any]) -> Command:
    """``command`` as the SDK publishes it; an envelope the gateway would refuse names its flag."""
    try:
        return Command.model_validate(command)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        field = str(first["loc"][0]) if first["loc"] else "command"
        raise ConfigError(_FLAG_OF.get(field, field), first["msg"]) from None


def _input_topic(settings: ClientSettings, topic: str | None) -> str | None:
    """``--topic``: ``send`` and ``command`` name the gateway's topics, anything else is a topic
    name; None routes by action (docs/contract.md "Topics")."""
    if topic == "send":
        return settings.topics.send
    if topic == "command":
        return settings.topics.command
    return topic


async def _send(
    settings: ClientSettings, command: Command, *, topic: str | None, wait: bool, timeout_s: float
) -> Result | None:
    """Publish ``command``; with ``wait``, its result (``RequestTimeout`` when none came)."""
    # Imported here: every other command starts without loading the SDK and aiokafka.
    from wawp_gateway.sdk.client import GatewayClient
    from wawp_gateway.sdk.errors import InvalidCommand, UnknownTopic

    client = GatewayClient.from_settings(settings, client_id=settings.kafka.client_id)
    tracing = Tracing.from_environ(os.environ, service="wawp-gateway-cli")
    name = f"send {topic or command.action}"
    attributes = {"wawp.action": command.action, "messaging.message.id": command.id}
    try:
        with tracing.continuing(
            (), name, SpanKind.PRODUCER, attributes, sample_new=True, for_libraries=True
        ) as span:
            async with client:
                # Once connected: a refused connection prints only its one error line.
                print(f"trace id: {span.get_span_context().trace_id:032x}", file=sys.stderr)
                if wait:
                    return await client.request(command, topic=topic, timeout_s=timeout_s)
                await client.publish(command, topic=topic)
                return None
    except UnknownTopic as exc:
        flag = "GATEWAY_TOPICS__RESULTS" if exc.topic == settings.topics.results else "--reply-to"
        raise ConfigError(flag, str(exc)) from None
    except InvalidCommand as exc:
        raise ConfigError("--reply-to", exc.message) from None
    finally:
        await asyncio.to_thread(tracing.shutdown)


def _cmd_send(args: argparse.Namespace) -> int:
    from wawp_gateway.sdk.errors import RequestTimeout

    settings = load_client_settings()
    command = build_command(
        args.action,
        instance_id=args.instance,
        pairs=[split_pair(p, "--param") for p in args.param],
        params_json=args.params_json,
        command_id=args.id,
        idempotency_key=args.idempotency_key,
        correlation_id=args.correlation_id,
        reply_to=args.reply_to,
        not_after=args.not_after,
    )
    try:
        result = asyncio.run(
            _send(
                settings,
                _validated(command),
                topic=_input_topic(settings, args.topic),
                wait=args.wait,
                timeout_s=args.timeout,
            )
        )
    except RequestTimeout as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result is None:
        print(json.dumps({"sent": True, "id": command["id"]}))
        return 0
    print(json.dumps(result.model_dump(mode="json", by_alias=True), indent=2))
    return 0 if result.status in _ANSWERED else 1


def add_parser(sub: Any) -> None:
    """``send`` on ``sub``."""
    send = sub.add_parser("send", help="publish one command (and wait for its result)")
    send.add_argument("action")
    send.add_argument("--instance", required=True)
    send.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a param; dots nest (file.url=...), values are typed from the catalog",
    )
    send.add_argument("--params-json", help="all params as one JSON object")
    send.add_argument("--id", help="command id (default: a new UUID)")
    send.add_argument("--idempotency-key")
    send.add_argument("--correlation-id")
    send.add_argument("--reply-to")
    send.add_argument("--not-after", help="RFC 3339 deadline, e.g. 2026-11-24T12:00:00Z")
    send.add_argument("--topic", help="input topic (default: by action, wawp.send or wawp.command)")
    send.add_argument("--wait", action="store_true", help="wait for the result and print it")
    send.add_argument("--timeout", type=float, default=60.0, help="seconds --wait waits")
    send.set_defaults(run=_cmd_send)
