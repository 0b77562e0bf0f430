"""Secrets from files: ``GATEWAY_SECRETS_DIR`` holds one file per secret setting, named exactly
as its variable (``GATEWAY_KAFKA__SASL_PASSWORD``, ``GATEWAY_WAWP__ACCESS_TOKEN``, ...): how
Kubernetes mounts a Secret as a volume (docs/security.md "Secrets from files").

pydantic-settings' own secrets source would read a file for any setting (a stray
``GATEWAY_KAFKA__BOOTSTRAP_SERVERS`` file too) and only warns when the directory is missing.
This source walks the settings class instead: every ``SecretStr`` field, at the top or in a
section, is a secret setting, and only those files are read; a missing directory is a
configuration error naming ``GATEWAY_SECRETS_DIR``. The environment wins over the
file (the source comes after it); a trailing newline (``echo`` adds one) is dropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from wawp_gateway.core.errors import ConfigError

__all__ = ["SECRETS_DIR_VARIABLE", "SecretsDirSource", "secret_settings"]

SECRETS_DIR_VARIABLE = "GATEWAY_SECRETS_DIR"
_PREFIX = "GATEWAY_"


def _is_secret(field: FieldInfo) -> bool:
    annotation = field.annotation
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _section(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def secret_settings(settings_cls: type[BaseModel]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """``(variable, path)`` of every secret setting: ``("GATEWAY_KAFKA__SASL_PASSWORD",
    ("kafka", "sasl_password"))``."""
    for name, field in settings_cls.model_fields.items():
        section = _section(field)
        if section is not None:
            for inner, inner_field in section.model_fields.items():
                if _is_secret(inner_field):
                    yield f"{_PREFIX}{name.upper()}__{inner.upper()}", (name, inner)
        elif _is_secret(field):
            yield f"{_PREFIX}{name.upper()}", (name,)


class SecretsDirSource(PydanticBaseSettingsSource):
    """Values of the secret settings whose files are in ``GATEWAY_SECRETS_DIR``."""

    def __init__(self, settings_cls: type[BaseSettings], directory: str | None = None) -> None:
        super().__init__(settings_cls)
        self._directory = (
            directory if directory is not None else os.environ.get(SECRETS_DIR_VARIABLE)
        )

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ reads whole sections at once.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if not self._directory:
            return {}
        directory = Path(self._directory)
        if not directory.is_dir():
            raise ConfigError(SECRETS_DIR_VARIABLE, f"{str(directory)!r} is not a directory")
        values: dict[str, Any] = {}
        for variable, path in secret_settings(self.settings_cls):
            file = directory / variable
            if not file.exists():
                continue
            try:
                value = file.read_text().rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(
                    variable, f"cannot read its file in {SECRETS_DIR_VARIABLE}: {exc.strerror}"
                ) from None
            except UnicodeDecodeError:
                raise ConfigError(
                    variable, f"its file in {SECRETS_DIR_VARIABLE} is not UTF-8 text"
                ) from None
            node = values
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        return values
