"""The action catalog as data: one ``ActionSpec`` row per Wawp action.

Rows come from ``endpoints.json``, the package's catalog of Wawp's actions (with
``webhooks.json``, its webhook events): the project's data. Pure: no I/O beyond reading package
data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Literal

__all__ = [
    "ACTIONS",
    "AUTH_PARAMS",
    "EXCLUDED_ACTIONS",
    "MESSAGE_CREATING_ACTIONS",
    "ActionSpec",
    "ParamSpec",
    "load_catalog",
]

Location = Literal["path", "query", "body"]
ParamType = Literal["string", "integer", "boolean", "array", "object"]

AUTH_PARAMS = frozenset({"instance_id", "access_token"})

# Actions that create a WhatsApp message and so carry a message id on success (docs/contract.md).
MESSAGE_CREATING_ACTIONS = frozenset(
    {
        "sendText",
        "sendImage",
        "sendFile",
        "sendVoice",
        "sendVideo",
        "sendLinkPreview",
        "sendLocation",
        "sendPoll",
        "sendContactVcard",
        "statusText",
        "statusImage",
        "statusVoice",
        "statusVideo",
    }
)

# Left out of the catalog, with the reason (README "Catalog").
EXCLUDED_ACTIONS: Mapping[str, str] = MappingProxyType(
    {"getScreenshot": "confidence 'guess': Wawp documents no path for it on v1 or v2"}
)

# Actions that share a route with another action send a fixed param to select themselves.
_FIXED_QUERY: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {"getQrRaw": (("format", "raw"),)}
)


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One catalog param. ``name`` is the wire name, e.g. ``file[url]`` or ``filter.ack``."""

    name: str
    location: Location
    type: ParamType
    nullable: bool
    required: bool

    @property
    def top_level(self) -> str:
        """The key of this param in a command's JSON ``params`` (``file[url]`` -> ``file``)."""
        return self.name.split("[", 1)[0]

    @property
    def subkey(self) -> str | None:
        """``url`` for ``file[url]``; None for a plain name."""
        if "[" not in self.name:
            return None
        return self.name.split("[", 1)[1].rstrip("]")


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str
    group: str
    method: str
    path: str
    api: Literal["v1", "v2"]
    params: tuple[ParamSpec, ...]
    fixed_query: tuple[tuple[str, str], ...]
    needs_instance: bool
    confidence: str

    @property
    def creates_message(self) -> bool:
        return self.name in MESSAGE_CREATING_ACTIONS

    @property
    def is_idempotent_method(self) -> bool:
        """GET/PUT/DELETE may be retried after a maybe-processed answer; POST never."""
        return self.method in ("GET", "PUT", "DELETE", "HEAD")

    @property
    def input_topic(self) -> Literal["send", "command"]:
        """The input topic a producer would normally use (both topics accept any action)."""
        return "send" if self.group == "send" or self.creates_message else "command"

    @property
    def bypasses_circuit(self) -> bool:
        """Session and auth actions repair an instance, so they never wait behind its circuit."""
        return self.group in ("session", "auth")


def _param(raw: Mapping[str, object]) -> ParamSpec:
    declared = str(raw["type"]).split("|")
    base = next(t for t in declared if t != "null")
    if base not in ("string", "integer", "boolean", "array", "object"):
        raise ValueError(f"unknown param type {raw['type']!r}")
    location = str(raw["in"])
    if location not in ("path", "query", "body"):
        raise ValueError(f"unknown param location {location!r}")
    return ParamSpec(
        name=str(raw["name"]),
        location=location,  # type: ignore[arg-type]
        type=base,  # type: ignore[arg-type]
        nullable="null" in declared,
        required=bool(raw["required"]),
    )


def _row(raw: Mapping[str, object]) -> ActionSpec | None:
    name = str(raw["action"])
    if name in EXCLUDED_ACTIONS:
        return None
    v1, v2 = raw.get("v1_path"), raw.get("v2_path")
    path, api = (str(v1), "v1") if v1 else (str(v2), "v2")
    params_raw = raw["params"]
    assert isinstance(params_raw, list)
    params = tuple(_param(p) for p in params_raw)
    return ActionSpec(
        name=name,
        group=str(raw["group"]),
        method=str(raw["method"]).upper(),
        path=path,
        api=api,  # type: ignore[arg-type]
        params=tuple(p for p in params if p.name not in AUTH_PARAMS),
        fixed_query=_FIXED_QUERY.get(name, ()),
        needs_instance=any(p.name == "instance_id" for p in params),
        confidence=str(raw.get("confidence", "")),
    )


def load_catalog() -> Mapping[str, ActionSpec]:
    text = (resources.files("wawp_gateway.wawp") / "endpoints.json").read_text("utf-8")
    rows = (_row(raw) for raw in json.loads(text))
    return MappingProxyType({row.name: row for row in rows if row is not None})


ACTIONS: Mapping[str, ActionSpec] = load_catalog()
