"""A validator for the part of JSON Schema draft-07 that the vendored Grafana schemas use.

The dev dependencies carry no JSON Schema library, and these schemas need few keywords:
``unsupported_keywords`` lets a test prove that none of theirs would be skipped here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["JsonSchema", "unsupported_keywords"]

_ASSERTIONS = frozenset(
    {
        "$ref",
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "anyOf",
        "oneOf",
        "allOf",
    }
)
# draft-07 treats `format` as an annotation unless a validator opts in.
_ANNOTATIONS = frozenset(
    {"$schema", "definitions", "description", "default", "format", "deprecated", "title"}
)
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


def _subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("properties", "definitions"):
        for child in schema.get(key, {}).values():
            yield from _subschemas(child)
    for key in ("items", "additionalProperties"):
        yield from _subschemas(schema.get(key))
    for key in ("anyOf", "oneOf", "allOf"):
        for child in schema.get(key, []):
            yield from _subschemas(child)


def unsupported_keywords(schema: dict[str, Any]) -> set[str]:
    """Keywords used anywhere in ``schema`` that this validator would not check."""
    return {
        key
        for node in _subschemas(schema)
        for key in node
        if key not in _ASSERTIONS and key not in _ANNOTATIONS and not key.startswith("x-")
    }


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


class JsonSchema:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def errors(self, instance: Any, definition: str | None = None) -> list[str]:
        """Every violation as ``<json path>: <what>``; ``definition`` picks a named definition."""
        schema = (
            self.document if definition is None else self._resolve(f"#/definitions/{definition}")
        )
        found: list[str] = []
        self._check(schema, instance, "$", found)
        return found

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported: {ref}")
        node: Any = self.document
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def _check(self, schema: Any, value: Any, path: str, found: list[str]) -> None:
        if schema is True or schema == {}:
            return
        if schema is False:
            found.append(f"{path}: not allowed")
            return
        if "$ref" in schema:
            self._check(self._resolve(schema["$ref"]), value, path, found)
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_TYPES[name](value) for name in names):
                found.append(f"{path}: {value!r} is not of type {'/'.join(names)}")
                return
        if "enum" in schema and not any(_same(value, v) for v in schema["enum"]):
            found.append(f"{path}: {value!r} is not one of {schema['enum']}")
        if "const" in schema and not _same(value, schema["const"]):
            found.append(f"{path}: {value!r} is not {schema['const']!r}")
        if _TYPES["number"](value):
            self._check_number(schema, value, path, found)
        if isinstance(value, str) and len(value) < schema.get("minLength", 0):
            found.append(f"{path}: shorter than {schema['minLength']}")
        if isinstance(value, dict):
            self._check_object(schema, value, path, found)
        if isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                self._check(schema["items"], item, f"{path}[{index}]", found)
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                outcomes = [self._errors_of(branch, value, path) for branch in schema[keyword]]
                passing = sum(not errors for errors in outcomes)
                if passing == 0:
                    # the closest branch is, in practice, the one that was meant
                    found.append(f"{path}: no branch of {keyword} matches")
                    found.extend(min(outcomes, key=len))
                elif keyword == "oneOf" and passing > 1:
                    found.append(f"{path}: {passing} branches of oneOf match")
        for branch in schema.get("allOf", []):
            self._check(branch, value, path, found)

    def _errors_of(self, schema: Any, value: Any, path: str) -> list[str]:
        found: list[str] = []
        self._check(schema, value, path, found)
        return found

    @staticmethod
    def _check_number(schema: dict[str, Any], value: float, path: str, found: list[str]) -> None:
        bounds = (
            ("minimum", lambda limit: value >= limit),
            ("maximum", lambda limit: value <= limit),
            ("exclusiveMinimum", lambda limit: value > limit),
            ("exclusiveMaximum", lambda limit: value < limit),
        )
        for keyword, holds in bounds:
            if keyword in schema and not holds(schema[keyword]):
                found.append(f"{path}: {value!r} breaks {keyword} {schema[keyword]}")

    def _check_object(
        self, schema: dict[str, Any], value: dict[str, Any], path: str, found: list[str]
    ) -> None:
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                found.append(f"{path}: missing required {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                self._check(properties[name], item, f"{path}.{name}", found)
            elif extra is False:
                found.append(f"{path}: unexpected property {name!r}")
            else:
                self._check(extra, item, f"{path}.{name}", found)
