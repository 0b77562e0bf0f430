"""Request params the way Wawp's v1 (WordPress) sees them, and the catalog's light checks.

WordPress merges the JSON body, the query string and the route's path params into one bag,
and PHP turns bracket names into nested arrays (``file[url]=x`` -> ``{"file": {"url": "x"}}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from .catalog import ActionDef

__all__ = [
    "ParamError",
    "get_param",
    "merge_params",
    "parse_body",
    "parse_bool",
    "parse_php_query",
    "validate_params",
]

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}
_INTEGER = re.compile(r"-?\d+")
# Media actions whose file must be an image WhatsApp renders inline (wawp/README "Media rules").
_IMAGE_ONLY = frozenset({"sendImage", "statusImage"})
_IMAGE_MIMETYPES = frozenset({"image/png", "image/jpeg"})


class ParamError(Exception):
    """A 400 answer in WordPress's error shape."""

    def __init__(self, code: str, message: str, params: tuple[str, ...]) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.params = params

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": 400, "params": list(self.params)}
        return {"code": self.code, "message": self.message, "data": data}


def _split_name(name: str) -> tuple[str, list[str]]:
    first = name.find("[")
    if first <= 0 or not name.endswith("]"):
        return name, []
    return name[:first], _BRACKETS.findall(name[first:])


def _listify(node: Any) -> Any:
    # PHP arrays with keys 0..n-1 are lists once JSON-encoded; mirror that.
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = _listify(value)
        if node and list(node) == [str(i) for i in range(len(node))]:
            return list(node.values())
    elif isinstance(node, list):
        return [_listify(item) for item in node]
    return node


def _assign(target: dict[str, Any], root: str, keys: list[str], value: str) -> None:
    if not keys:
        target[root] = value
        return
    container: Any = target
    key: str = root
    for nxt in keys:
        child = container.get(key) if isinstance(container, dict) else None
        if nxt == "":
            if not isinstance(child, list):
                child = []
        elif not isinstance(child, dict):
            child = {}
        if isinstance(container, dict):
            container[key] = child
        else:
            container.append(child)
        container, key = child, nxt
    if isinstance(container, list):
        container.append(value)
    else:
        container[key] = value


def parse_php_query(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Nest bracket names as PHP does; a repeated plain name keeps its last value."""
    result: dict[str, Any] = {}
    for name, value in pairs:
        root, keys = _split_name(name)
        _assign(result, root, keys, value)
    return _listify(result)  # type: ignore[no-any-return]


def parse_body(raw: bytes, content_type: str) -> Any:
    """The body as JSON (or a PHP-style form); None when empty. Raises ParamError if unparsable."""
    if not raw.strip():
        return None
    if content_type.startswith("application/x-www-form-urlencoded"):
        text = raw.decode("utf-8", "replace")
        return parse_php_query(parse_qsl(text, keep_blank_values=True))
    try:
        return json.loads(raw)
    except ValueError:
        raise ParamError("rest_invalid_json", "Invalid JSON body passed.", ()) from None


def merge_params(
    query: Mapping[str, Any], body: Any, path_params: Mapping[str, str]
) -> dict[str, Any]:
    """One bag: path params win, then the JSON body, then the query (WordPress's order)."""
    merged = dict(query)
    if isinstance(body, dict):
        merged.update(body)
    merged.update(path_params)
    return merged


def get_param(params: Mapping[str, Any], name: str) -> Any:
    """A catalog param by its catalog name; bracket names (``file[url]``) look inside objects."""
    root, keys = _split_name(name)
    node: Any = params.get(root)
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _is_missing(value: Any) -> bool:
    return value is None or value == ""


def _type_ok(value: Any, declared: str) -> bool:
    kinds = declared.split("|")
    if value is None:
        return "null" in kinds
    if "integer" in kinds:
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (
            isinstance(value, str) and _INTEGER.fullmatch(value) is not None
        )
    if "boolean" in kinds:
        if isinstance(value, bool) or value in (0, 1):
            return True
        return isinstance(value, str) and value.lower() in _TRUE | _FALSE
    return True  # strings, arrays and objects are not checked: "light" validation only


def validate_params(action: ActionDef, params: Mapping[str, Any]) -> None:
    """Required params, integer/boolean shapes and the png/jpeg rule; raises ParamError."""
    missing = [n for n in action.required if _is_missing(get_param(params, n))]
    if missing:
        raise ParamError(
            "rest_missing_callback_param",
            f"Missing parameter(s): {', '.join(missing)}",
            tuple(missing),
        )
    invalid = [
        name
        for name, declared in action.types.items()
        if (value := get_param(params, name)) is not None and not _type_ok(value, declared)
    ]
    if action.name in _IMAGE_ONLY:
        mimetype = get_param(params, "file[mimetype]")
        if not isinstance(mimetype, str) or mimetype.lower() not in _IMAGE_MIMETYPES:
            invalid.append("file[mimetype]")
    if invalid:
        raise ParamError(
            "rest_invalid_param", f"Invalid parameter(s): {', '.join(invalid)}", tuple(invalid)
        )


def parse_bool(value: Any) -> bool:
    """A boolean param that passed `validate_params`."""
    if isinstance(value, str):
        return value.lower() in _TRUE
    return bool(value)
