"""Validation of a command's ``params`` against its action: typed models plus hand-written rules.

Each action gets a strict pydantic model generated from its catalog row (types, required fields,
no unknown params); ``rules`` then checks what needs code (chat ids, media types, poll options,
lengths) and normalises values. Error messages name the param but never repeat its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    JsonValue,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
)

from wawp_gateway.core.errors import CommandRejected
from wawp_gateway.core.jsoncodec import compact
from wawp_gateway.wawp.catalog import AUTH_PARAMS, ActionSpec, ParamSpec
from wawp_gateway.wawp.rules import ParamError, apply_rules

__all__ = ["MAX_PARAMS_BYTES", "params_model", "validate_params"]

# Kafka's default record limit is 1 MiB; a command's params beyond this are a producer bug.
MAX_PARAMS_BYTES = 64 * 1024

# The catalog types these as strings, but producers naturally send numbers.
_NUMBER_OR_STRING = frozenset({"latitude", "longitude"})

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


def _scalar(param: ParamSpec) -> Any:
    if param.name in _NUMBER_OR_STRING:
        return StrictStr | StrictFloat | StrictInt
    return {
        "string": StrictStr,
        "integer": StrictInt,
        "boolean": StrictBool,
        "array": list[JsonValue],
        "object": dict[str, JsonValue],
    }[param.type]


def _field(annotation: Any, *, required: bool, nullable: bool) -> tuple[Any, Any]:
    if nullable or not required:
        annotation = annotation | None
    return (annotation, ... if required else None)


@cache
def params_model(spec: ActionSpec) -> type[BaseModel]:
    """The strict model of ``spec``'s params; bracket names (``file[url]``) become sub-models."""
    fields: dict[str, Any] = {}
    groups: dict[str, list[ParamSpec]] = {}
    for param in spec.params:
        if param.subkey is None:
            fields[param.name] = _field(
                _scalar(param), required=param.required, nullable=param.nullable
            )
        else:
            groups.setdefault(param.top_level, []).append(param)
    for name, members in groups.items():
        sub = create_model(  # type: ignore[call-overload]
            f"{spec.name}_{name}",
            __config__=_STRICT,
            **{
                m.subkey: _field(_scalar(m), required=m.required, nullable=m.nullable)
                for m in members
                if m.subkey
            },
        )
        fields[name] = _field(sub, required=any(m.required for m in members), nullable=False)
    model: type[BaseModel] = create_model(f"{spec.name}_params", __config__=_STRICT, **fields)
    return model


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "params"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def _reject(message: str) -> CommandRejected:
    return CommandRejected("invalid_params", message)


def validate_params(spec: ActionSpec, params: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """Return ``params`` validated and normalised for ``spec``, or raise CommandRejected."""
    credentials = sorted(AUTH_PARAMS.intersection(params))
    if credentials:
        raise _reject(
            f"params must not contain {', '.join(credentials)}: "
            "credentials come from the gateway's configuration"
        )
    size = len(compact(params))
    if size > MAX_PARAMS_BYTES:
        raise _reject(f"params are {size} bytes; at most {MAX_PARAMS_BYTES} are accepted")
    try:
        model = params_model(spec).model_validate(dict(params))
    except ValidationError as exc:
        raise _reject(_describe(exc)) from None
    values: dict[str, JsonValue] = model.model_dump(exclude_unset=True)
    try:
        apply_rules(spec, values)
    except ParamError as exc:
        raise _reject(str(exc)) from None
    return values
