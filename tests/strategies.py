"""Test data: valid params built from the catalog's own examples, and hypothesis strategies.

The catalog is read here straight from ``endpoints.json`` with ``json``, not through
``wawp_gateway.wawp.catalog``: tests that compare the gateway with the catalog need a second,
independent reading.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from wawp_gateway.core.errors import (
    WawpAuthError,
    WawpConnectError,
    WawpError,
    WawpQuotaExceeded,
    WawpRateLimited,
    WawpRejected,
    WawpServerError,
    WawpTimeout,
    WawpUnavailable,
)

__all__ = [
    "CATALOG_PATH",
    "catalog_rows",
    "command_bytes",
    "example_params",
    "json_values",
    "wawp_errors",
]

CATALOG_PATH = (
    Path(__file__).resolve().parents[1] / "service" / "wawp_gateway" / "wawp" / "endpoints.json"
)
AUTH = ("instance_id", "access_token")

# Examples in the catalog that the gateway's rules refuse on purpose, replaced here (with why).
_EXAMPLE_FIXES: dict[str, dict[str, Any]] = {
    # getQrRaw's `format` is fixed by the gateway (it selects the action on a shared route);
    # the example "raw" is accepted, but a producer never needs to send it.
    "getQrRaw": {"format": None},
}


@cache
def catalog_rows() -> dict[str, dict[str, Any]]:
    """``action -> raw catalog row`` of the package's ``endpoints.json``."""
    rows = json.loads(CATALOG_PATH.read_text("utf-8"))
    return {row["action"]: row for row in rows}


def _nest(params: dict[str, Any], name: str, value: Any) -> None:
    """``file[url]`` -> ``params["file"]["url"]``; plain names stay flat."""
    if "[" in name:
        top, rest = name.split("[", 1)
        params.setdefault(top, {})[rest.rstrip("]")] = value
    else:
        params[name] = value


def example_params(action: str, *, required_only: bool = False) -> dict[str, Any]:
    """A params dict for ``action`` made of the catalog's ``example`` values.

    Auth params are left out (credentials never travel in commands), and so are params whose
    example is null (an absent optional param)."""
    params: dict[str, Any] = {}
    for param in catalog_rows()[action]["params"]:
        if param["name"] in AUTH or (required_only and not param["required"]):
            continue
        if param["example"] is None:
            continue
        _nest(params, param["name"], copy.deepcopy(param["example"]))
    for name, value in _EXAMPLE_FIXES.get(action, {}).items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return params


# --- hypothesis strategies -------------------------------------------------------------------

_odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from("\0\u202e\ufeff\U0001f44d"),
    max_size=40,
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _odd_text
)


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    """Any JSON value: scalars with huge numbers and odd unicode, nested lists and objects."""
    return st.recursive(
        json_scalars,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(_odd_text, children, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def _deeply_nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


_command_keys = st.sampled_from(
    [
        "schema",
        "id",
        "instance_id",
        "action",
        "params",
        "not_after",
        "created_at",
        "reply_to",
        "correlation_id",
        "idempotency_key",
    ]
)
_command_like = st.dictionaries(
    _command_keys | _odd_text,
    json_values(10)
    | st.sampled_from(["wawp.command.v1", "sendText", "SANDBOX00001", "2026-11-24T12:00:00Z"]),
    max_size=8,
)


@st.composite
def command_bytes(draw: st.DrawFn) -> bytes:
    """Record values a producer might send, most of them wrong: random bytes, random JSON,
    command-shaped objects, deeply nested arrays and numbers too long for ``int``."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return json.dumps(draw(json_values())).encode()
    if kind == 2:
        return json.dumps(draw(_command_like), ensure_ascii=draw(st.booleans())).encode()
    if kind == 3:
        return _deeply_nested(draw(st.integers(1, 200_000)))
    digits = draw(st.integers(1, 6_000))
    number = b"9" * digits
    return draw(st.sampled_from([number, b'{"id": "x", "n": ' + number + b"}"]))


_MESSAGE = st.sampled_from(["Wawp said no", "quota", ""])


def wawp_errors() -> st.SearchStrategy[WawpError]:
    """One of every kind of error a Wawp call can end with."""
    return st.one_of(
        _MESSAGE.map(lambda m: WawpConnectError(m or "refused")),
        st.builds(
            lambda m, s: WawpRateLimited(m or "429", retry_after_s=s),
            _MESSAGE,
            st.none() | st.floats(0, 600),
        ),
        _MESSAGE.map(lambda m: WawpUnavailable(m or "503", http_status=503)),
        _MESSAGE.map(lambda m: WawpTimeout(m or "timeout")),
        _MESSAGE.map(lambda m: WawpServerError(m or "500", http_status=500)),
        _MESSAGE.map(lambda m: WawpRejected(m or "400", http_status=400)),
        _MESSAGE.map(lambda m: WawpAuthError(m or "401", http_status=401)),
        _MESSAGE.map(lambda m: WawpQuotaExceeded(m or "quota", http_status=200)),
    )
