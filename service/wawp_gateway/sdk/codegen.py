"""Renders ``sdk/actions.py``: one typed builder method per catalog action.

The catalog is data; the builders are generated into a checked-in module so that type checkers
and editors see real signatures (``wawp-gateway generate`` writes it, a test fails when it is
stale). The output is already in ``ruff format`` style, so formatting the tree leaves it alone.
"""

from __future__ import annotations

import json
import keyword
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from wawp_gateway.sdk.commands import OPTION_NAMES
from wawp_gateway.wawp.catalog import ACTIONS, ActionSpec, ParamSpec

__all__ = ["Argument", "arguments", "method_name", "python_name", "render_actions"]

_SCALARS: Mapping[str, str] = MappingProxyType(
    {
        "string": "str",
        "integer": "int",
        "boolean": "bool",
        "array": "Sequence[JsonValue]",
        "object": "Mapping[str, JsonValue]",
    }
)
# The params models take numbers or strings for these (wawp/params.py).
_NUMBER_OR_STRING = frozenset({"latitude", "longitude"})
# Object params whose fields the rules check (wawp/rules.py): typed by their shape.
_OBJECT_SHAPES: Mapping[str, str] = MappingProxyType(
    {"poll": "Poll", "picture": "MediaFile", "file": "MediaFile"}
)
# Bracket groups (``file[url]``, ...) typed by a shape when their members match it exactly.
_GROUP_SHAPES: Mapping[frozenset[tuple[str, str, bool]], str] = MappingProxyType(
    {
        frozenset(
            {("url", "string", True), ("mimetype", "string", True), ("filename", "string", True)}
        ): "MediaFile"
    }
)
_OPTION_HINTS: Mapping[str, str] = MappingProxyType(
    {
        "command_id": "str | None",
        "idempotency_key": "str | None",
        "correlation_id": "str | None",
        "reply_to_topic": "str | None",
        "not_after": "datetime | None",
        "created_at": "datetime | None",
    }
)
_MAX_LINE = 100


@dataclass(frozen=True, slots=True)
class Argument:
    """One keyword argument of a builder: its Python name, its key in ``params``, its type."""

    python: str
    wire: str
    hint: str
    required: bool


def method_name(action: str) -> str:
    """``sendImage`` -> ``send_image``, ``getQRCode`` -> ``get_qr_code``."""
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", action)
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", spaced)
    return spaced.replace("-", "_").lower()


def python_name(wire: str) -> str:
    """A param's keyword: the wire name where it is an identifier (``chatId``), else made one
    (``filter.fromMe`` -> ``filter_fromMe``, ``from`` -> ``from_``)."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", wire)
    if keyword.iskeyword(name) or name in OPTION_NAMES or name == "self":
        name += "_"
    return name


def _hint(param: ParamSpec) -> str:
    if param.name in _NUMBER_OR_STRING:
        return "str | float"
    if param.type == "object":
        return _OBJECT_SHAPES.get(param.name, _SCALARS["object"])
    return _SCALARS[param.type]


def arguments(spec: ActionSpec) -> list[Argument]:
    """The builder's keyword arguments for ``spec``: required ones first, each in catalog order."""
    found: list[Argument] = []
    groups: dict[str, list[ParamSpec]] = {}
    for param in spec.params:
        if param.subkey is None:
            found.append(
                Argument(python_name(param.name), param.name, _hint(param), param.required)
            )
        else:
            if param.top_level not in groups:
                found.append(Argument(python_name(param.top_level), param.top_level, "", False))
            groups.setdefault(param.top_level, []).append(param)
    resolved = []
    for argument in found:
        members = groups.get(argument.wire)
        if members is not None:
            shape = frozenset((m.subkey or "", m.type, m.required) for m in members)
            argument = Argument(
                argument.python,
                argument.wire,
                _GROUP_SHAPES.get(shape, _SCALARS["object"]),
                any(m.required for m in members),
            )
        resolved.append(argument)
    return [a for a in resolved if a.required] + [a for a in resolved if not a.required]


def _titles() -> dict[str, str]:
    """Action -> its title in the catalog (``ActionSpec`` keeps no titles)."""
    text = (resources.files("wawp_gateway.wawp") / "endpoints.json").read_text("utf-8")
    return {str(row["action"]): str(row["title"]) for row in json.loads(text)}


def _docstring(summary: str, detail: str, indent: str) -> list[str]:
    """Always summary, blank line, detail: a one-line docstring would be joined (and could
    overflow the line) by the formatter."""

    def wrap(text: str) -> list[str]:
        clean = " ".join(text.replace("\\", "/").replace('"', "'").split())
        return textwrap.wrap(clean, width=_MAX_LINE - len(indent) - 3)

    first, *rest = wrap(summary)
    body = [*rest, "", *wrap(detail)]
    return [
        f'{indent}"""{first}',
        *(f"{indent}{line}" if line else "" for line in body),
        f'{indent}"""',
    ]


def _signature(name: str, leading: Iterable[str], args: Iterable[Argument]) -> list[str]:
    lines = [f"    def {name}(", "        self,", *(f"        {a}," for a in leading)]
    lines.append("        *,")
    for arg in args:
        default = "" if arg.required else " = None"
        optional = "" if arg.required else " | None"
        lines.append(f"        {arg.python}: {arg.hint}{optional}{default},")
    for option in OPTION_NAMES:
        lines.append(f"        {option}: {_OPTION_HINTS[option]} = None,")
    lines.append("    ) -> Command:")
    return lines


def _call(action_expr: str, params_expr: list[str]) -> list[str]:
    lines = ["        return build_command(", "            self.instance_id,"]
    lines.append(f"            {action_expr},")
    lines.extend(params_expr)
    lines.extend(f"            {option}={option}," for option in OPTION_NAMES)
    lines.append("        )")
    return lines


def _method(spec: ActionSpec, title: str) -> list[str]:
    args = arguments(spec)
    topic = "send" if spec.input_topic == "send" else "command"
    detail = f"``{spec.method} {spec.path}`` (catalog group {spec.group}; the {topic} topic)."
    lines = [
        *_signature(method_name(spec.name), (), args),
        *_docstring(f"{title.rstrip('.')}.", detail, " " * 8),
    ]
    if args:
        params = ["            given(", "                {"]
        params.extend(f'                    "{a.wire}": {a.python},' for a in args)
        params.extend(["                }", "            ),"])
    else:
        params = ["            {},"]
    return [*lines, *_call(f'"{spec.name}"', params)]


_HEADER = '''\
"""Typed command builders: one method per action of the Wawp catalog.

Generated from the catalog (``wawp/endpoints.json``) by ``wawp-gateway generate``; a test fails
when it is stale, so change ``sdk/codegen.py`` or the catalog, never this file. Keyword arguments
are the action's params under their wire names (``chatId``; names that are not identifiers lose
their dots, keywords get a trailing ``_``); None leaves a param out.
"""

# ruff: noqa: N803
from __future__ import annotations

'''

_GENERIC = '''\
class Actions:
    """Builders of validated commands for one Wawp instance.

    ``Actions("ABC123DEF456").send_image(chatId=..., file=...)`` returns a ``Command`` ready to
    publish; invalid params raise ``InvalidCommand`` here, before anything is sent.
    """

    __slots__ = ("instance_id",)

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id

    def command(
        self,
        action: str,
        params: Mapping[str, JsonValue] | None = None,
        *,
{options}
    ) -> Command:
        """Any catalog action by name, ``params`` as the command's JSON params."""
        return build_command(
            self.instance_id,
            action,
            params or {{}},
{passes}
        )
'''


def _imports(methods: list[list[str]]) -> list[str]:
    text = "\n".join(line for method in methods for line in method)
    shapes = sorted({s for s in ("MediaFile", "Poll") if re.search(rf"\b{s}\b", text)})
    abc = ["Mapping"] + (["Sequence"] if "Sequence[" in text else [])
    lines = [
        f"from collections.abc import {', '.join(abc)}",
        "from datetime import datetime",
        "from types import MappingProxyType",
        "",
        "from pydantic import JsonValue",
        "",
        "from wawp_gateway.core.contracts import Command",
        "from wawp_gateway.sdk.commands import build_command, given",
    ]
    if shapes:
        lines.append(f"from wawp_gateway.sdk.shapes import {', '.join(shapes)}")
    return lines


def render_actions() -> str:
    """The text of ``service/wawp_gateway/sdk/actions.py``."""
    specs = sorted(ACTIONS.values(), key=lambda s: s.name)
    names = [method_name(s.name) for s in specs]
    if len(set(names)) != len(names) or "command" in names:
        raise ValueError("two catalog actions map to one builder name")
    titles = _titles()
    methods = [_method(spec, titles.get(spec.name, spec.name)) for spec in specs]
    table = ["METHODS: Mapping[str, str] = MappingProxyType(", "    {"]
    table.extend(f'        "{s.name}": "{n}",' for s, n in zip(specs, names, strict=True))
    table.extend(["    }", ")", '"""Catalog action -> the ``Actions`` method that builds it."""'])
    generic = _GENERIC.format(
        options="\n".join(f"        {o}: {_OPTION_HINTS[o]} = None," for o in OPTION_NAMES),
        passes="\n".join(f"            {o}={o}," for o in OPTION_NAMES),
    )
    parts = [
        _HEADER + "\n".join(_imports(methods)),
        '__all__ = ["METHODS", "Actions"]',
        "\n".join(table),
        generic.rstrip("\n"),
    ]
    body = parts[0] + "\n\n" + "\n\n\n".join(parts[1:])
    for method in methods:
        body += "\n\n" + "\n".join(method)
    return body + "\n"
