"""JSON on the per-command path: orjson where it gives the same answer as the standard library,
the standard library where it would not.

Every command is decoded once, fingerprinted, encoded into two state records and a result, and
its Wawp answer decoded: with the standard library that was ~8% of the worker's CPU per command.
orjson differs from ``json`` in three ways that matter here, each sent back to ``json``:
integers beyond 64 bits (orjson refuses to encode them, and decodes them as floats, losing
digits), and input orjson refuses to decode (lone surrogate escapes, ``1e400``), whose error or
value stays the standard library's. Floats in exponent form print differently (``1e16`` against
``1e+16``); nothing on this path compares such text across versions but the fingerprint, where
a difference reads as a different command (rejected, never sent twice).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["canonical", "compact", "loads"]

# 19 digits in a row may be an integer beyond 64 bits, which orjson would decode as a float.
# Found by mapping every digit to "0" and anything else to " ": a regular expression took five
# times as long as orjson's decoding of a whole state record.
_DIGITS_ONLY = bytes(ord("0") if chr(c).isdigit() and c < 128 else ord(" ") for c in range(256))
_LONG_RUN = b"0" * 19


def loads(raw: bytes, *, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """``json.loads`` with its results and errors, faster for what commands usually hold.

    ``parse_constant`` is the standard library's (orjson refuses NaN and Infinity, so they
    always reach it)."""
    if _LONG_RUN not in raw.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the standard library's own verdict and message
    return json.loads(raw, parse_constant=parse_constant)


def compact(value: Any) -> bytes:
    """UTF-8 JSON with no spaces: ``json.dumps(value, separators=(",", ":"),
    ensure_ascii=False)``."""
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits, or a key that is not a string
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def canonical(value: Any) -> bytes:
    """``compact`` with object keys sorted: the same value always gives the same bytes."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
