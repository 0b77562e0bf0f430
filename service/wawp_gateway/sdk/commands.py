"""Building commands: ids, idempotency keys, the envelope options and client-side validation.

A command is checked here with the same catalog and params models the worker uses, so a mistake
fails in the producer with the error the gateway would have put in a ``rejected`` result. Params
are sent normalized (``447441429009`` becomes ``447441429009@c.us``): the gateway would
normalize them the same way, so the idempotency fingerprint does not change.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final, cast

from pydantic import JsonValue, ValidationError

from wawp_gateway.core.contracts import COMMAND_SCHEMA, Command
from wawp_gateway.core.errors import CommandRejected
from wawp_gateway.sdk.errors import InvalidCommand
from wawp_gateway.wawp.catalog import ACTIONS, EXCLUDED_ACTIONS
from wawp_gateway.wawp.params import validate_params

__all__ = ["OPTION_NAMES", "build_command", "command", "given", "is_legal_topic"]

OPTION_NAMES: Final = (
    "command_id",
    "idempotency_key",
    "correlation_id",
    "reply_to_topic",
    "not_after",
    "created_at",
)
"""Keyword options every builder takes besides the action's params. ``reply_to_topic`` sets the
command's ``reply_to``: the action param ``reply_to`` is Wawp's quoted message id."""

# The rule the worker applies to reply_to (docs/contract.md "reply_to").
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def is_legal_topic(name: str) -> bool:
    return bool(_LEGAL_TOPIC.fullmatch(name)) and name not in (".", "..")


def given(params: Mapping[str, object]) -> dict[str, object]:
    """``params`` without the ones left at None: how a typed builder says "not given"."""
    return {name: value for name, value in params.items() if value is not None}


def _plain(value: object) -> JsonValue:
    """Tuples and other sequences become lists, mappings dicts: the params models are strict."""
    if isinstance(value, str | bytes):
        return cast(JsonValue, value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_plain(item) for item in value]
    return cast(JsonValue, value)  # anything else is left for validation to name


# Envelope fields named as the builders' options call them.
_OPTION_OF = {"id": "command_id", "reply_to": "reply_to_topic"}


def _envelope_problem(exc: ValidationError) -> str:
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(_OPTION_OF.get(str(part), str(part)) for part in first["loc"]) or "command"
    return f"{where}: {first['msg']}"


def build_command(
    instance_id: str,
    action: str,
    params: Mapping[str, object],
    *,
    command_id: str | None = None,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    reply_to_topic: str | None = None,
    not_after: datetime | None = None,
    created_at: datetime | None = None,
) -> Command:
    """A validated command; raises ``InvalidCommand`` with the code the gateway would use."""
    spec = ACTIONS.get(action)
    if spec is None:
        reason = EXCLUDED_ACTIONS.get(action)
        detail = f" ({reason})" if reason else ""
        raise InvalidCommand("unknown_action", f"{action!r} is not a catalog action{detail}")
    try:
        normalized = validate_params(spec, {k: _plain(v) for k, v in params.items()})
    except CommandRejected as exc:
        raise InvalidCommand(exc.code, f"{action}: {exc.message}") from None
    if reply_to_topic is not None and not is_legal_topic(reply_to_topic):
        raise InvalidCommand(
            "invalid_command",
            "reply_to_topic: not a legal Kafka topic name ([a-zA-Z0-9._-]{1,249})",
        )
    identifier = command_id if command_id is not None else str(uuid.uuid4())
    try:
        return Command(
            schema_=COMMAND_SCHEMA,
            id=identifier,
            # The gateway's default, written out so the command shows the key it runs under.
            idempotency_key=identifier if idempotency_key is None else idempotency_key,
            instance_id=instance_id,
            action=action,
            params=normalized,
            correlation_id=correlation_id,
            reply_to=reply_to_topic,
            not_after=not_after,
            created_at=created_at if created_at is not None else datetime.now(UTC),
        )
    except ValidationError as exc:
        raise InvalidCommand("invalid_command", _envelope_problem(exc)) from None


def command(
    action: str,
    params: Mapping[str, JsonValue] | None = None,
    *,
    instance_id: str,
    command_id: str | None = None,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    reply_to_topic: str | None = None,
    not_after: datetime | None = None,
    created_at: datetime | None = None,
) -> Command:
    """Any catalog action by name, ``params`` as the command's JSON ``params`` (wire names,
    nested objects for bracket names: ``{"file": {"url": ...}}``). Validated like the typed
    builders of ``Actions``; the id defaults to a UUID4 and the idempotency key to the id."""
    return build_command(
        instance_id,
        action,
        params or {},
        command_id=command_id,
        idempotency_key=idempotency_key,
        correlation_id=correlation_id,
        reply_to_topic=reply_to_topic,
        not_after=not_after,
        created_at=created_at,
    )
