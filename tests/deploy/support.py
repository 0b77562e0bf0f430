"""What the deployment tests share: repository paths, the known settings, and loading a process's
settings from the environment a manifest gives it, the way the process itself would."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from wawp_gateway.core.config import (
    ClientSettings,
    ReceiverSettings,
    Settings,
    TrackerProcessSettings,
)

__all__ = [
    "DEPLOY",
    "REPO",
    "SCHEMAS",
    "known_settings",
    "process_settings",
    "settings_class",
]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SCHEMAS = Path(__file__).resolve().parent / "schemas"

_PREFIX = "GATEWAY_"
_DOCUMENTED = re.compile(r"^\| `(GATEWAY_[A-Z0-9_]+)`", re.MULTILINE)

# The settings class each command builds (cli.py); `sandbox` reads none.
_SETTINGS_OF: dict[str, type[BaseSettings]] = {
    "worker": Settings,
    "check-config": Settings,
    "webhook": ReceiverSettings,
    "tracker": TrackerProcessSettings,
    "topics": ClientSettings,
    "send": ClientSettings,
    "dlq": ClientSettings,
}


@functools.cache
def known_settings() -> frozenset[str]:
    """Every GATEWAY_* variable of docs/configuration.md (generated from the settings and kept
    fresh by `wawp-gateway generate --check`)."""
    names = frozenset(_DOCUMENTED.findall((REPO / "docs" / "configuration.md").read_text()))
    assert names, "docs/configuration.md lists no GATEWAY_* variable"
    return names


def settings_class(args: list[str]) -> type[BaseSettings] | None:
    """The settings class of the gateway command ``args`` (``["worker"]``), if it reads any."""
    return _SETTINGS_OF.get(args[0]) if args else None


def _nested(env: Mapping[str, str]) -> dict[str, Any]:
    """GATEWAY_KAFKA__PARTITIONS=3 -> {"kafka": {"partitions": "3"}}, as pydantic-settings reads
    it (prefix stripped, case-insensitive, ``__`` between a section and its field)."""
    data: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(_PREFIX):
            continue
        *sections, field = name[len(_PREFIX) :].lower().split("__")
        node = data
        for section in sections:
            node = node.setdefault(section, {})
        node[field] = value
    return data


def process_settings(cls: type[BaseSettings], env: Mapping[str, str]) -> BaseModel:
    """``cls`` from ``env`` alone, with the validation the process runs at start-up.

    ``model_validate`` skips pydantic-settings' sources, so the environment of the test run
    (an external broker's GATEWAY_KAFKA__BOOTSTRAP_SERVERS, say) cannot leak in."""
    try:
        return cls.model_validate(_nested(env))
    except ValidationError as exc:
        raise AssertionError(f"{cls.__name__} refuses this environment: {exc}") from None
