"""The per-command JSON codec gives the standard library's answers (``core/jsoncodec.py``)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wawp_gateway.core.jsoncodec import canonical, compact, loads

# Floats in exponent form print differently (documented in the module); the rest must not.
_plain_floats = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda f: "e" not in repr(f)
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | _plain_floats
    | st.text()
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _stdlib(value: Any, *, sort: bool = False) -> bytes:
    text = json.dumps(value, sort_keys=sort, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", errors="surrogatepass")


@settings(max_examples=400)
@given(_values)
def test_encoding_is_the_standard_librarys(value: Any) -> None:
    try:
        expected = _stdlib(value)
    except UnicodeEncodeError:
        return  # a lone surrogate in a str: not a JSON text either way
    if b"\xed" in expected:  # surrogatepass output: no valid UTF-8 to compare
        return
    assert compact(value) == expected
    assert canonical(value) == _stdlib(value, sort=True)


@settings(max_examples=400)
@given(_values)
def test_decoding_is_the_standard_librarys(value: Any) -> None:
    raw = json.dumps(value).encode()
    assert loads(raw) == json.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"n": 123456789012345678901234567890}',  # beyond 64 bits: exact, not a float
        b'{"n": -9223372036854775809}',
        b'{"n": 1e400}',  # the standard library reads infinity
        b'{"a": 1, "a": 2}',
        '{"é": "中"}'.encode(),
    ],
)
def test_what_orjson_would_read_otherwise_is_read_as_before(raw: bytes) -> None:
    got, expected = loads(raw), json.loads(raw)
    assert got == expected
    assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]


def test_a_lone_surrogate_escape_is_read_as_before() -> None:
    raw = b'{"a": "\\ud800"}'
    assert loads(raw) == json.loads(raw) == {"a": "\ud800"}


@pytest.mark.parametrize("raw", [b"{", b"\xff", b"[1,]", b'{"a": 1} x'])
def test_errors_and_their_kinds_are_the_standard_librarys(raw: bytes) -> None:
    try:
        json.loads(raw)
    except ValueError as exc:
        expected = exc
    with pytest.raises(type(expected), match=re.escape(str(expected))):
        loads(raw)


def test_nan_goes_to_the_callers_parse_constant() -> None:
    seen: list[str] = []

    def refuse(constant: str) -> Any:
        seen.append(constant)
        raise ValueError(constant)

    with pytest.raises(ValueError, match="NaN"):
        loads(b'{"a": NaN}', parse_constant=refuse)
    assert seen == ["NaN"]


def test_integers_beyond_64_bits_are_encoded_exactly() -> None:
    assert compact({"n": 2**70}) == b'{"n":1180591620717411303424}'
    assert canonical({"b": 2**70, "a": 1}) == b'{"a":1,"b":1180591620717411303424}'
