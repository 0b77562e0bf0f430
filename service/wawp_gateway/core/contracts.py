"""Pydantic models of every topic's value: the wire contracts of docs/contract.md.

These are edge types: the worker parses a command once and hands a typed ``OutboundCommand`` on.
``schemas/`` holds the JSON Schemas generated from these models (``wawp-gateway schemas``).
"""

from __future__ import annotations

import enum
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    field_serializer,
    field_validator,
)

__all__ = [
    "COMMAND_SCHEMA",
    "DELIVERY_SCHEMA",
    "INSTANCE_SCHEMA",
    "RESULT_SCHEMA",
    "SESSION_SCHEMA",
    "Command",
    "DeliveryRecord",
    "DlqHeaders",
    "DlqReason",
    "ErrorCode",
    "ErrorInfo",
    "InstanceRecord",
    "Result",
    "ResultStatus",
    "SessionRecord",
    "SessionStatus",
    "StateRecord",
    "StateStatus",
]

COMMAND_SCHEMA: Final = "wawp.command.v1"
RESULT_SCHEMA: Final = "wawp.result.v1"
DELIVERY_SCHEMA: Final = "wawp.delivery.v1"
STATE_SCHEMA: Final = "wawp.state.v1"
INSTANCE_SCHEMA: Final = "wawp.instance.v1"
SESSION_SCHEMA: Final = "wawp.session.v1"

CommandId = Annotated[str, Field(min_length=1, max_length=128)]
# RFC 3339 starts "YYYY-MM-DDTHH:MM"; pydantic alone would also take Unix timestamps (numbers or
# digit strings) and read them as UTC, which the contract does not allow.
_RFC3339_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


class ResultStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DUPLICATE = "duplicate"
    OUTCOME_UNKNOWN = "outcome_unknown"


class DlqReason(enum.StrEnum):
    VALIDATION = "validation"
    UNKNOWN_INSTANCE = "unknown_instance"
    AUTH = "auth"
    PERMANENT = "permanent"
    RETRIES_EXHAUSTED = "retries_exhausted"
    EXPIRED = "expired"
    OUTCOME_UNKNOWN = "outcome_unknown"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    INTERNAL = "internal"
    UNDECODABLE = "undecodable"


class Command(BaseModel):
    """Value of ``wawp.send`` / ``wawp.command``. Unknown top-level fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    schema_: Literal["wawp.command.v1"] = Field(alias="schema")
    id: CommandId
    idempotency_key: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    instance_id: Annotated[str, Field(min_length=1, max_length=64)]
    action: Annotated[str, Field(min_length=1, max_length=64)]
    params: dict[str, JsonValue] = Field(default_factory=dict)
    correlation_id: Annotated[str, Field(max_length=255)] | None = None
    reply_to: str | None = None
    not_after: AwareDatetime | None = None
    created_at: AwareDatetime | None = None

    @field_validator("not_after", "created_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if value is None or isinstance(value, datetime):
            return value
        if not isinstance(value, str) or not _RFC3339_START.match(value):
            raise ValueError("must be an RFC 3339 date-time with a timezone")
        return value


class ErrorCode(enum.StrEnum):
    """The gateway's own ``error.code`` values (``undecodable`` only as a dead letter's
    ``dlq-error-code``). What each means: ``core.codes`` and the generated ``docs/errors.md``."""

    INVALID_COMMAND = "invalid_command"
    UNKNOWN_ACTION = "unknown_action"
    INVALID_PARAMS = "invalid_params"
    UNKNOWN_INSTANCE = "unknown_instance"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    NOT_AFTER_PASSED = "not_after_passed"
    MAYBE_SENT = "maybe_sent"
    INSTANCE_UNAVAILABLE = "instance_unavailable"
    CONNECT_ERROR = "connect_error"
    TIMEOUT = "timeout"
    QUOTA_EXCEEDED = "quota_exceeded"
    INTERNAL_ERROR = "internal_error"
    UNDECODABLE = "undecodable"


# A result's code is one of the gateway's own, ``http_<status>``, or Wawp's own passed through.
_CODE_SCHEMA: Final[dict[str, Any]] = {
    "description": "The gateway's own codes (first alternative), http_<status> for a Wawp error "
    "without a code, or a code of Wawp's own passed through unchanged (docs/errors.md).",
    "anyOf": [
        {"enum": [c.value for c in ErrorCode if c is not ErrorCode.UNDECODABLE]},
        {"pattern": "^http_[0-9]{3}$"},
        {"type": "string"},
    ],
}


class ErrorInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(json_schema_extra=_CODE_SCHEMA)
    message: str
    retryable: bool


class Result(BaseModel):
    """Value of ``wawp.results`` (or of the command's ``reply_to`` topic)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    schema_: Literal["wawp.result.v1"] = Field(RESULT_SCHEMA, alias="schema")
    command_id: str
    idempotency_key: str | None = None
    correlation_id: str | None = None
    instance_id: str | None = None
    action: str | None = None
    status: ResultStatus
    message_id: str | None = None
    http_status: int | None = None
    response: JsonValue = None
    error: ErrorInfo | None = None
    original_status: ResultStatus | None = None
    reply_to_error: str | None = None
    attempts: int = 0
    replay_count: int = 0
    received_at: datetime
    completed_at: datetime

    def to_bytes(self) -> bytes:
        # The serializer's bytes as they are: model_dump_json makes a str of them first.
        return self.__pydantic_serializer__.to_json(self, by_alias=True)


class DeliveryRecord(BaseModel):
    """Value of ``wawp.delivery``: the latest WhatsApp ack level of a message the gateway sent."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    schema_: Literal["wawp.delivery.v1"] = Field(DELIVERY_SCHEMA, alias="schema")
    message_id: str
    command_id: str | None = None
    correlation_id: str | None = None
    instance_id: str
    ack: int
    ack_name: str
    ack_timeout: bool = False
    sent_at: datetime | None = None
    acked_at: datetime | None = None


class StateStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    NOT_SENT = "not_sent"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    OUTCOME_UNKNOWN = "outcome_unknown"
    RELEASED = "released"


class StateRecord(BaseModel):
    """Value of ``wawp.state``: the idempotency changelog. ``released`` records (a partition
    handed over) carry only ``schema``, ``status`` and ``recorded_at``. Every other record
    carries its command's attempt count so far and its first attempt's time: the latest record
    of a key is all a restore needs."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    schema_: Literal["wawp.state.v1"] = Field(STATE_SCHEMA, alias="schema")
    instance_id: str | None = None
    idempotency_key: str | None = None
    command_id: str | None = None
    replay_count: int = 0
    fingerprint: str | None = None
    status: StateStatus
    message_id: str | None = None
    error: ErrorInfo | None = None
    attempts: int = 0
    first_attempt_at: datetime | None = None
    correlation_id: str | None = None
    action: str | None = None
    recorded_at: datetime


class DlqHeaders(BaseModel):
    """The ``dlq-*`` headers of a ``wawp.dlq`` record; every value is a UTF-8 string on the wire."""

    model_config = ConfigDict(frozen=True)

    reason: DlqReason
    error_code: str
    error_message: str
    original_topic: str
    original_partition: int
    original_offset: int
    attempts: int = 0
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    replay_count: int = 0
    redacted: bool = False

    def to_kafka(self) -> list[tuple[str, bytes]]:
        pairs: list[tuple[str, str]] = [
            ("dlq-reason", self.reason.value),
            ("dlq-error-code", self.error_code),
            ("dlq-error-message", self.error_message),
            ("dlq-original-topic", self.original_topic),
            ("dlq-original-partition", str(self.original_partition)),
            ("dlq-original-offset", str(self.original_offset)),
            ("dlq-attempts", str(self.attempts)),
            ("dlq-replay-count", str(self.replay_count)),
        ]
        if self.first_attempt_at is not None:
            pairs.append(("dlq-first-attempt-at", _rfc3339(self.first_attempt_at)))
        if self.last_attempt_at is not None:
            pairs.append(("dlq-last-attempt-at", _rfc3339(self.last_attempt_at)))
        if self.redacted:
            pairs.append(("dlq-redacted", "true"))
        return [(k, v.encode()) for k, v in pairs]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class WebhookEnvelope(BaseModel):
    """Value of ``wawp.events``: a Wawp webhook body as it arrived, byte for byte. The receiver
    checks only that it is an object with a string ``event`` and an instance (path or
    ``session``); every other field is Wawp's, and unknown fields and event types pass through.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    event: str = Field(min_length=1, description="Event name, e.g. message.ack; route on it.")
    id: str | None = Field(None, description="Unique event id (evt_ + ULID): de-duplicate on it.")
    timestamp: int | None = Field(None, description="Epoch milliseconds when Wawp produced it.")
    session: str | None = Field(None, description="The instance (when the path named none).")
    engine: str | None = None
    payload: Any = Field(None, description="The event's own data (see webhooks.json).")
    me: dict[str, Any] | None = Field(None, description="The connected account.")
    metadata: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None


InstanceId = Annotated[str, Field(min_length=1, max_length=64)]


class InstanceRecord(BaseModel):
    """Value of ``wawp.instances`` (key = ``instance_id``): one instance of the live registry
    (docs/contract.md "Instance registry"). A tombstone or ``enabled: false`` removes it.

    ``access_token`` is a secret: it stays a ``SecretStr`` in memory, and only ``to_kafka``
    writes its value (the record on the topic is where it lives)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    schema_: Literal["wawp.instance.v1"] = Field(INSTANCE_SCHEMA, alias="schema")
    instance_id: InstanceId
    rate_per_minute: float | None = Field(
        None, gt=0, description="Calls per minute; null: the instances file's [defaults]."
    )
    burst: int | None = Field(
        None, ge=1, description="Calls an idle instance may make at once; null: [defaults]."
    )
    access_token: SecretStr | None = Field(
        None, description="Wawp token of this instance (secret); null: the default token."
    )
    enabled: bool = True
    updated_at: AwareDatetime | None = None

    @field_serializer("access_token", when_used="json")
    def _token_hidden(self, token: SecretStr | None) -> str | None:
        # A plain model_dump_json() never carries the secret: logs and dead letters stay clean.
        return None if token is None else "**********"

    def to_kafka(self) -> bytes:
        """The record's value as written to the topic: the only place the token leaves memory."""
        body = self.model_dump(mode="json", by_alias=True)
        if self.access_token is not None:
            body["access_token"] = self.access_token.get_secret_value()
        return json.dumps(body, separators=(",", ":")).encode()


class SessionStatus(enum.StrEnum):
    """A Wawp session's status (``session.status`` webhooks)."""

    STOPPED = "STOPPED"
    STARTING = "STARTING"
    SCAN_QR_CODE = "SCAN_QR_CODE"
    WORKING = "WORKING"
    FAILED = "FAILED"


class SessionRecord(BaseModel):
    """Value of ``wawp.sessions`` (key = ``instance_id``): the last session status the webhook
    receiver saw for an instance (docs/contract.md "Session status")."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    schema_: Literal["wawp.session.v1"] = Field(SESSION_SCHEMA, alias="schema")
    instance_id: InstanceId
    status: SessionStatus
    at: AwareDatetime = Field(description="When Wawp reported the status.")
    event_id: str | None = Field(None, description="The session.status event's id.")

    def to_bytes(self) -> bytes:
        """The record's value as written to ``wawp.sessions``."""
        return self.__pydantic_serializer__.to_json(self, by_alias=True)


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each topic value, keyed by the file name under ``schemas/``."""
    return {
        "command.v1.json": Command.model_json_schema(by_alias=True),
        "result.v1.json": Result.model_json_schema(by_alias=True, mode="serialization"),
        "delivery.v1.json": DeliveryRecord.model_json_schema(by_alias=True, mode="serialization"),
        "state.v1.json": StateRecord.model_json_schema(by_alias=True, mode="serialization"),
        "dlq-headers.v1.json": DlqHeaders.model_json_schema(mode="serialization"),
        "event.v1.json": WebhookEnvelope.model_json_schema(),
        "instance.v1.json": _instance_schema(),
        "session.v1.json": SessionRecord.model_json_schema(by_alias=True, mode="serialization"),
    }


def _instance_schema() -> dict[str, Any]:
    schema = InstanceRecord.model_json_schema(by_alias=True, mode="validation")
    # On the topic the token is a plain string (SecretStr is an in-memory guard only).
    schema["properties"]["access_token"] = {
        "anyOf": [{"type": "string", "minLength": 1, "writeOnly": True}, {"type": "null"}],
        "default": None,
        "description": "Wawp token of this instance (secret); null: the default token.",
        "title": "Access Token",
    }
    return schema
