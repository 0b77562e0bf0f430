"""``KEY=VALUE`` command-line values (``send --param``, ``sandbox --instance``)."""

from __future__ import annotations

from wawp_gateway.core.errors import ConfigError

__all__ = ["split_pair"]


def split_pair(item: str, flag: str) -> tuple[str, str]:
    """``item`` split at its first ``=``; a ``ConfigError`` naming ``flag`` when it has none."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(flag, f"expected KEY=VALUE, got {item!r}")
    return key, value
