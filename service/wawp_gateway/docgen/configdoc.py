"""The generated configuration reference (``docs/configuration.md``), read off ``Settings``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from wawp_gateway.core.config import Settings
from wawp_gateway.core.instances import InstanceConfig, RateLimitConfig
from wawp_gateway.core.secrets import SECRETS_DIR_VARIABLE, secret_settings

__all__ = ["render_config_reference"]

_HEADER = """# Configuration reference

Generated from `service/wawp_gateway/core/config.py` by `wawp-gateway generate`; do not edit by
hand.
Every setting is an environment variable with prefix `GATEWAY_` and `__` between a section and
its field. Secrets are never printed. `wawp-gateway check-config` validates a configuration.

| variable | default | meaning |
|---|---|---|
"""

_INSTANCES = """
## Instances file (`GATEWAY_INSTANCES_FILE`)

```toml
[defaults]
rate_per_minute = 60
burst = 5

[instances.ABC123DEF456]
rate_per_minute = 30
# access_token = "..."   optional per-instance override of GATEWAY_WAWP__ACCESS_TOKEN
```

| key | default | meaning |
|---|---|---|
"""


def _default(field: FieldInfo) -> str:
    value: Any = field.default
    if value is PydanticUndefined or value is None:
        return "none"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _rows(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if name != "instances":
                yield from _rows(annotation, f"{prefix}{name.upper()}__")
            continue
        # One line per table row: a docstring's line breaks would cut the row in two.
        meaning = " ".join((field.description or "").split()).replace("|", "\\|")
        yield f"| `{prefix}{name.upper()}` | {_default(field)} | {meaning} |"


_SECRETS_DIR_MEANING = (
    "A directory with one file per secret setting, named exactly as its variable (how "
    "Kubernetes mounts a Secret); the environment wins over a file (docs/security.md)."
)
_SECRETS = f"""
## Secrets from files (`{SECRETS_DIR_VARIABLE}`)

| variable | default | meaning |
|---|---|---|
| `{SECRETS_DIR_VARIABLE}` | none | {_SECRETS_DIR_MEANING} |

A trailing newline is dropped; files of other names are ignored. The secret settings:

"""


def render_config_reference() -> str:
    lines = list(_rows(Settings, "GATEWAY_"))
    instance_rows = [
        f"| `[defaults] {name}` | {_default(field)} | {field.description or ''} |"
        for name, field in RateLimitConfig.model_fields.items()
    ] + [
        f"| `[instances.<ID>] {name}` | defaults | "
        + ("per-instance token (secret)" if name == "access_token" else "override of [defaults]")
        + " |"
        for name in InstanceConfig.model_fields
    ]
    secrets = [f"- `{variable}`" for variable, _ in secret_settings(Settings)]
    return (
        _HEADER
        + "\n".join(lines)
        + "\n"
        + _INSTANCES
        + "\n".join(instance_rows)
        + "\n"
        + _SECRETS
        + "\n".join(secrets)
        + "\n"
    )
