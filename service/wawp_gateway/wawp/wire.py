"""Where each param goes on the wire: path (URL-encoded), query (bracket names) or JSON body.

Pure: turns an action and its validated params into a ``WireRequest`` without credentials; the
client adds ``instance_id`` and ``access_token`` to the query (docs/contract.md "Commands").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from wawp_gateway.core.jsoncodec import compact
from wawp_gateway.core.values import immutable
from wawp_gateway.wawp.catalog import ActionSpec

__all__ = ["WireRequest", "build_wire_request", "query_value"]


@immutable
class WireRequest:
    method: str
    api: str  # "v1" or "v2": which base URL the path hangs off
    path: str  # already URL-encoded
    query: tuple[tuple[str, str], ...]
    body: bytes | None


def query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _query_pairs(name: str, value: Any) -> list[tuple[str, str]]:
    """PHP/WordPress conventions: ``file[url]=..`` for objects, ``ids[]=..`` for lists."""
    if value is None:
        return []
    if isinstance(value, dict):
        pairs: list[tuple[str, str]] = []
        for key, item in value.items():
            pairs.extend(_query_pairs(f"{name}[{key}]", item))
        return pairs
    if isinstance(value, list):
        return [(f"{name}[]", query_value(item)) for item in value if item is not None]
    return [(name, query_value(value))]


def build_wire_request(spec: ActionSpec, params: Mapping[str, Any]) -> WireRequest:
    path = spec.path
    query: list[tuple[str, str]] = list(spec.fixed_query)
    body: dict[str, Any] = {}
    placed: set[str] = set()
    for param in spec.params:
        key = param.top_level
        if key in placed or key not in params:
            continue
        placed.add(key)
        value = params[key]
        if param.location == "path":
            path = path.replace("{" + key + "}", quote(query_value(value), safe=""))
        elif param.location == "query":
            query.extend(_query_pairs(key, value))
        elif value is not None:
            body[key] = value
    encoded = compact(body) if body else None
    return WireRequest(spec.method, spec.api, path, tuple(query), encoded)
