"""The sandbox's own reading of the Wawp catalog: action definitions and a route table.

Deliberately independent of ``wawp_gateway.wawp.actions``: the sandbox exists to catch the
gateway client's routing mistakes, so it must not share the code that makes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import unquote

__all__ = [
    "V1_PREFIX",
    "ActionDef",
    "Catalog",
    "RouteMatch",
    "load_catalog",
]

V1_PREFIX = "/wp-json/awp/v1"

# Routes that two catalog actions share; the request's params pick one (see `_SHARED`).
_SHARED_PICKERS: dict[frozenset[str], tuple[str, str, str]] = {
    # (param that decides, action when the param says so, action otherwise)
    frozenset({"getQrRaw", "getQrImage"}): ("format", "getQrRaw", "getQrImage"),
    frozenset({"channelsSearchByView", "channelsSearchByText"}): (
        "view",
        "channelsSearchByView",
        "channelsSearchByText",
    ),
}


@dataclass(frozen=True, slots=True)
class ActionDef:
    """One catalog action as the sandbox needs it."""

    name: str
    group: str
    method: str
    v1_path: str | None
    v2_path: str | None
    required: tuple[str, ...]
    types: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    segments: tuple[str | None, ...]  # None marks a placeholder segment
    names: tuple[str, ...]  # placeholder names, in order
    actions: tuple[str, ...]  # one, or two for a shared route

    @property
    def specificity(self) -> tuple[int, tuple[bool, ...]]:
        # More literal segments first; then literals earlier in the path win.
        literals = tuple(s is not None for s in self.segments)
        return (sum(literals), literals)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A matched route: the candidate actions and the decoded path params."""

    actions: tuple[str, ...]
    path_params: Mapping[str, str]

    def pick(self, params: Mapping[str, Any]) -> str:
        """Choose the action of a shared route from the request's params."""
        if len(self.actions) == 1:
            return self.actions[0]
        param, when_given, otherwise = _SHARED_PICKERS[frozenset(self.actions)]
        value = params.get(param)
        if param == "format":
            return when_given if value == "raw" else otherwise
        return when_given if value not in (None, "") else otherwise


def _split_template(path: str) -> tuple[tuple[str | None, ...], tuple[str, ...]]:
    segments: list[str | None] = []
    names: list[str] = []
    for part in path.strip("/").split("/"):
        if part.startswith("{") and part.endswith("}"):
            segments.append(None)
            names.append(part[1:-1])
        else:
            segments.append(part)
    return tuple(segments), tuple(names)


class Catalog:
    """Action definitions plus a (method, path) router built from them."""

    def __init__(self, entries: Iterable[Mapping[str, Any]]) -> None:
        self.actions: dict[str, ActionDef] = {}
        grouped: dict[tuple[str, str], list[str]] = {}
        for entry in entries:
            action = _action_from_entry(entry)
            self.actions[action.name] = action
            for path in _full_paths(action):
                grouped.setdefault((action.method, path), []).append(action.name)
        # Literal routes go in a dict: one lookup for the hot path (sendText and friends).
        self._static: dict[tuple[str, str], RouteMatch] = {}
        self._templated: dict[tuple[str, int], list[_Route]] = {}
        for (method, path), names in grouped.items():
            if len(names) > 1 and frozenset(names) not in _SHARED_PICKERS:
                raise ValueError(f"catalog route {method} {path} is shared by {names}")
            segments, params = _split_template(path)
            if not params:
                self._static[(method, path)] = RouteMatch(tuple(names), {})
                continue
            route = _Route(method, segments, params, tuple(names))
            self._templated.setdefault((method, len(segments)), []).append(route)
        for routes in self._templated.values():
            routes.sort(key=lambda r: r.specificity, reverse=True)

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        """Route a raw (percent-encoded) path; placeholders match one segment, decoded."""
        found = self._static.get((method, unquote(raw_path)))
        if found is not None:
            return found
        raw_segments = raw_path.strip("/").split("/")
        if raw_path.endswith("/") or not raw_path.startswith("/"):
            return None
        for route in self._templated.get((method, len(raw_segments)), ()):
            values: list[str] = []
            for literal, raw in zip(route.segments, raw_segments, strict=True):
                if literal is None:
                    if not raw:
                        break
                    values.append(unquote(raw))
                elif unquote(raw) != literal:
                    break
            else:
                return RouteMatch(route.actions, dict(zip(route.names, values, strict=True)))
        return None


def _action_from_entry(entry: Mapping[str, Any]) -> ActionDef:
    params = entry.get("params", [])
    return ActionDef(
        name=str(entry["action"]),
        group=str(entry.get("group", "")),
        method=str(entry["method"]).upper(),
        v1_path=entry.get("v1_path"),
        v2_path=entry.get("v2_path"),
        required=tuple(str(p["name"]) for p in params if p.get("required")),
        types={str(p["name"]): str(p.get("type", "string")) for p in params},
    )


def _full_paths(action: ActionDef) -> list[str]:
    paths = []
    if action.v1_path:
        paths.append(V1_PREFIX + action.v1_path)
    if action.v2_path:
        paths.append(action.v2_path)
    return paths


@cache
def load_catalog() -> Catalog:
    """The catalog the package ships (``wawp_gateway/wawp/endpoints.json``), parsed once."""
    # Resolved from the top package so that `wawp_gateway.wawp` (the gateway's client) is
    # never imported: the sandbox reads the data, not the code.
    data = resources.files("wawp_gateway").joinpath("wawp", "endpoints.json")
    text = data.read_text("utf-8")
    return Catalog(json.loads(text))
