"""From a raw Kafka record to a typed command, a rejection, or "undecodable".

The order of checks is the contract's: without a usable ``id`` a record is undecodable (DLQ only);
with one, every later problem becomes a ``rejected`` result that names it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import JsonValue, ValidationError

from wawp_gateway.core.contracts import COMMAND_SCHEMA, Command
from wawp_gateway.core.errors import CommandRejected
from wawp_gateway.core.jsoncodec import loads
from wawp_gateway.core.values import immutable
from wawp_gateway.wawp.catalog import ACTIONS, ActionSpec
from wawp_gateway.wawp.params import validate_params

__all__ = [
    "Envelope",
    "OutboundCommand",
    "Rejection",
    "Undecodable",
    "decode",
    "header",
]

REPLAY_COUNT_HEADER = "dlq-replay-count"
OVERRIDE_NOT_AFTER_HEADER = "gateway-override-not-after"
OVERRIDE_UNKNOWN_HEADER = "gateway-override-unknown"


@immutable
class Envelope:
    """Where a record came from, and its raw parts."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@immutable
class OutboundCommand:
    id: str
    idempotency_key: str
    instance_id: str
    spec: ActionSpec
    params: Mapping[str, JsonValue]
    correlation_id: str | None
    reply_to: str | None
    not_after: datetime | None
    created_at: datetime | None
    replay_count: int
    override_not_after: bool = False
    override_unknown: bool = False

    @property
    def action(self) -> str:
        return self.spec.name

    @property
    def command_id(self) -> str:
        return self.id


@immutable
class Rejection:
    """A record with an ``id`` that cannot run; what could be read is kept for the result."""

    command_id: str
    error: CommandRejected
    instance_id: str | None
    action: str | None
    idempotency_key: str | None
    correlation_id: str | None
    reply_to: str | None
    replay_count: int


@immutable
class Undecodable:
    reason: str
    replay_count: int


def header(envelope: Envelope, name: str) -> str | None:
    for key, value in envelope.headers:
        if key == name:
            return value.decode("utf-8", errors="replace")
    return None


def _not_json(constant: str) -> Any:
    """``NaN``, ``Infinity``: Python's json reads them, but they are not JSON (RFC 8259)."""
    raise ValueError(f"{constant} is not JSON")


def _is_unicode(raw: Any) -> bool:
    """JSON may escape a lone surrogate (``"\\ud800"``): no text can hold it, so nothing built
    from it could be sent, published or logged."""
    try:
        json.dumps(raw, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def _replay_count(envelope: Envelope) -> int:
    raw = header(envelope, REPLAY_COUNT_HEADER)
    # isascii(): str.isdigit() also accepts digits such as "²" that int() refuses; ValueError:
    # more digits than Python's int conversion limit.
    if raw is None or not (raw.isascii() and raw.isdigit()):
        return 0
    try:
        return int(raw)
    except ValueError:
        return 0


def _str_field(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    return value if isinstance(value, str) else None


def _schema_problem(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "command"
        msg = error["msg"]
        if where == "schema":
            msg = f"must be {COMMAND_SCHEMA!r}"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def decode(
    envelope: Envelope, *, is_known_instance: Callable[[str], bool]
) -> OutboundCommand | Rejection | Undecodable:
    replay_count = _replay_count(envelope)
    if envelope.value is None:
        return Undecodable("the record has no value", replay_count)
    try:
        raw = loads(envelope.value, parse_constant=_not_json)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError, UnicodeDecodeError and integers longer than
        # Python's int conversion limit (4300 digits), which json raises as a bare ValueError.
        return Undecodable("the value is not JSON", replay_count)
    if not isinstance(raw, dict):
        return Undecodable("the value is not a JSON object", replay_count)
    if b"\\u" in envelope.value and not _is_unicode(raw):
        return Undecodable("the value holds an unpaired UTF-16 surrogate", replay_count)
    command_id = raw.get("id")
    if not isinstance(command_id, str) or not command_id or len(command_id) > 128:
        return Undecodable("no usable id: a non-empty string of at most 128 chars", replay_count)

    def reject(code: str, message: str, dlq_reason: str = "validation") -> Rejection:
        return Rejection(
            command_id=command_id,
            error=CommandRejected(code, message, dlq_reason=dlq_reason),
            instance_id=_str_field(raw, "instance_id"),
            action=_str_field(raw, "action"),
            idempotency_key=_str_field(raw, "idempotency_key") or command_id,
            correlation_id=_str_field(raw, "correlation_id"),
            reply_to=_str_field(raw, "reply_to"),
            replay_count=replay_count,
        )

    try:
        command = Command.model_validate(raw)
    except ValidationError as exc:
        return reject("invalid_command", _schema_problem(exc))
    spec = ACTIONS.get(command.action)
    if spec is None:
        return reject("unknown_action", f"{command.action!r} is not a catalog action")
    if not is_known_instance(command.instance_id):
        return reject(
            "unknown_instance",
            "instance is not configured on this gateway",
            dlq_reason="unknown_instance",
        )
    try:
        params = validate_params(spec, command.params)
    except CommandRejected as exc:
        return reject(exc.code, exc.message)
    return OutboundCommand(
        id=command.id,
        idempotency_key=command.idempotency_key or command.id,
        instance_id=command.instance_id,
        spec=spec,
        params=params,
        correlation_id=command.correlation_id,
        reply_to=command.reply_to,
        not_after=command.not_after,
        created_at=command.created_at,
        replay_count=replay_count,
        override_not_after=header(envelope, OVERRIDE_NOT_AFTER_HEADER) == "true",
        override_unknown=header(envelope, OVERRIDE_UNKNOWN_HEADER) == "true",
    )
